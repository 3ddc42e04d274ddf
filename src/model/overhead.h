/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * overhead.h - what the heap probes cost each target, estimated: the BPF
 * side counts probe hits per process (probes__hits), the session measured
 * the cost of one hit on this kernel at start (attach/calibrate.c), and
 * /proc/PID/stat gives the target's CPU time. The kernel accounts the trap
 * and the BPF program to the thread that hit the probe, so the target's
 * CPU time includes the probes:
 *
 *	probe_ns = hits * ns_per_hit
 *	slowdown = probe_ns / (cpu_ns - probe_ns)	(0.05: 5% slower)
 *
 * ns_per_hit is, per process, the cost calibrated at start (a tight
 * malloc/free loop: the trap and the BPF program with hot caches) unless
 * the process's own system time says otherwise: the kernel accounts the
 * trap as system time, so with sys_ns given (overhead__update_sys), at
 * least OVERHEAD_SITU_MIN_SYS_NS of it (tick-sampled: enough ticks), and
 * the hits frequent enough that the calibrated cost explains at least
 * OVERHEAD_SITU_SHARE of it (the probes, not the program's own
 * syscalls, are most of it), the cost is sys_ns / hits over the
 * process's whole measured span, kept within [SHARE, 1 / SHARE] x the
 * calibrated one. A program with a large working set pays more per trap
 * than a tight loop (its kernel path and caches cold: cc1plus ~800 ns of
 * system time per hit against ~500 calibrated), and a calibration on a
 * loaded machine may come out high (1000 ns, where redis pays ~500):
 * both are seen. Not seen: the user-side refill after the trap
 * (cc1plus: ~300 ns more per hit, as user time), and the system time
 * that is the program's own syscalls (redis: ~50 ns per hit), so it
 * errs low for the first and a little high for the second.
 *
 * Pure arithmetic over the samples it is given (no /proc, no BPF), so the
 * unit test drives it directly.
 */
#ifndef MEMTEL_MODEL_OVERHEAD_H
#define MEMTEL_MODEL_OVERHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The probes' share of the target's CPU is capped at this fraction: an
 * estimate at or past the measured CPU time (10 ms tick granularity of
 * /proc/PID/stat, or a cost calibrated too high) reads as 99x, not as a
 * division by zero. */
#define OVERHEAD_MAX_SHARE 0.99
/* The in-place cost (above): from this much system time on, when hits x
 * the calibrated cost is at least this share of it. */
#define OVERHEAD_SITU_MIN_SYS_NS	200000000ULL
#define OVERHEAD_SITU_SHARE		0.5
/* sys_ns not known. */
#define OVERHEAD_NO_SYS		UINT64_MAX

struct overhead;

struct overhead_est {
	uint64_t hits;
	double probe_ns;	/* hits x cost */
	double cpu_ns;		/* target CPU in the span, probes included */
	double slowdown;	/* probe_ns / (cpu_ns - probe_ns); 0 if no CPU */
	double ns_per_hit;	/* the cost taken (their mean, for all) */
	double span_ns;		/* wall time covered */
};

/* NULL with errno set (ENOMEM, EINVAL for a negative or non-finite cost). */
struct overhead *overhead__new(double ns_per_hit);
void overhead__free(struct overhead *o);
/* Cumulative hits (BPF) and cumulative CPU time of pid (utime+stime in ns,
 * from /proc/PID/stat via process/procstat) at now_ns. The first update of
 * a pid only sets its baseline. A counter that goes backwards (the pid was
 * re-tracked or reused) starts a new baseline: nothing is subtracted.
 * 0 or -ENOMEM. */
int overhead__update(struct overhead *o, uint32_t pid, uint64_t hits,
		     uint64_t cpu_ns, uint64_t now_ns);
/* The same with pid's cumulative system time (OVERHEAD_NO_SYS: not
 * known), from which its cost per hit may be taken. */
int overhead__update_sys(struct overhead *o, uint32_t pid, uint64_t hits,
			 uint64_t cpu_ns, uint64_t sys_ns, uint64_t now_ns);
/* The cost per hit for hits that came with sys_ns of system time, the
 * calibrated one being ns_per_hit (the rule above). */
double overhead__cost(double ns_per_hit, uint64_t hits, uint64_t sys_ns);
/* last: since the previous update; total: since the first (either may be
 * NULL). false if pid unknown. */
bool overhead__get(const struct overhead *o, uint32_t pid,
		   struct overhead_est *last, struct overhead_est *total);
/* Drop pid (it exited): a later process with the same pid starts afresh.
 * Its totals stay in overhead__all(). */
void overhead__forget(struct overhead *o, uint32_t pid);
double overhead__ns_per_hit(const struct overhead *o);
/* Every process measured (at least two updates), forgotten ones included:
 * their summed hits and CPU, span the longest. How many processes. */
size_t overhead__all(const struct overhead *o, struct overhead_est *all);
/* The pid of the last process forgotten after it was measured, or 0 (a
 * session of one process that exited names it). */
uint32_t overhead__last_gone(const struct overhead *o);
/* Iterate over the known pids: start with *it = 0; false at the end. */
bool overhead__next(const struct overhead *o, size_t *it, uint32_t *pid);
/* The estimate for hits and cpu_ns over span_ns at ns_per_hit. */
void overhead__estimate(double ns_per_hit, uint64_t hits, uint64_t cpu_ns,
			uint64_t span_ns, struct overhead_est *out);

#endif /* MEMTEL_MODEL_OVERHEAD_H */
