/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * procstat.h - what the session reads about a process from /proc besides
 * its maps: whether it is alive (stat), its memory figures (status, smaps)
 * and the profiler's own capabilities. Parsers take text so that tests and
 * fuzzers feed them directly; readers go through fileio__read_text with a
 * size bound per file.
 */
#ifndef MEMTEL_PROCESS_PROCSTAT_H
#define MEMTEL_PROCESS_PROCSTAT_H

#include <stdint.h>
#include <sys/types.h>

/* Read bounds: status and stat are a few KiB; smaps grows with the number
 * of mappings (about 1 KiB each, and a process chooses how many). */
#define PROCSTAT_MAX_STATUS	(256 * 1024)
#define PROCSTAT_MAX_SMAPS	(256 * 1024 * 1024)

/* Process figures, in bytes. */
struct proc_mem {
	uint64_t rss_bytes;		/* VmRSS */
	uint64_t virtual_bytes;		/* VmSize */
	uint64_t allocator_bytes;	/* Rss of [heap] + private anonymous */
};

/* Parse /proc/PID/status text: VmRSS and VmSize into out (allocator_bytes
 * untouched). 0, -EINVAL, or -ENODATA if either is missing (kernel thread,
 * zombie). */
int procstat__parse_status(const char *text, struct proc_mem *out);
/* Parse /proc/PID/smaps text: sum of Rss over [heap] and private anonymous
 * mappings (no path, or "[anon:...]"). 0 or -EINVAL. */
int procstat__parse_smaps(const char *text, uint64_t *allocator_bytes);
/* Read /proc/PID/status and /proc/PID/smaps. 0 or -errno (-ESRCH if gone). */
int procstat__read_mem(pid_t pid, struct proc_mem *out);
/* Numeric field `field` (1-based, as in proc(5): 14 utime, 22 starttime)
 * of /proc/PID/stat text; comm (field 2) may hold spaces and ')'.
 * 0 or -EINVAL. */
int procstat__stat_field(const char *text, int field, uint64_t *val);
/* utime + stime of /proc/PID/stat text (clock ticks at hz), in ns.
 * 0 or -EINVAL. */
int procstat__parse_cpu(const char *text, long hz, uint64_t *cpu_ns);
/* CPU time process pid has used, all threads, user + system (the kernel
 * accounts uprobe traps here), in ns: its CPU clock (exact), else
 * /proc/PID/stat (clock ticks). 0 or -errno (-ESRCH if gone). */
int procstat__cpu_ns(pid_t pid, uint64_t *cpu_ns);
/* The same, and of it the system time (/proc/PID/stat, clock ticks). */
int procstat__cpu_sys_ns(pid_t pid, uint64_t *cpu_ns, uint64_t *sys_ns);
/* 0 alive, -ESRCH gone, -ECHILD a zombie (exited, not yet reaped). */
int procstat__pid_state(pid_t pid);
/* The system call number in /proc/PID/syscall text ("61 0x... ...").
 * 0, -EAGAIN ("running", or "-1 ...": not blocked in a system call), or
 * -EINVAL. */
int procstat__parse_syscall(const char *text, long *nr);
/* The system call single-threaded process pid is blocked in (its
 * /proc/PID/syscall; stat's thread count). 0, -EAGAIN (running, not in a
 * system call, or more than one thread), or -errno (-ESRCH gone). */
int procstat__blocked_syscall(pid_t pid, long *nr);
/* The CapEff mask in /proc/self/status text. 0 or -EINVAL. */
int procstat__parse_capeff(const char *text, uint64_t *eff);
/* This process's effective capabilities. 0 or -errno. */
int procstat__self_caps(uint64_t *eff);

#endif /* MEMTEL_PROCESS_PROCSTAT_H */
