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
 * the process's own system time says otherwise. The kernel accounts the
 * trap as system time, and a program with a large working set pays more
 * per trap than a tight loop (the trap's kernel path and data are cold
 * there, and the program refills its caches after it): cc1plus ~2.4 us
 * per hit where the calibration measures ~1.2 us, redis ~1.3 us. So with
 * sys_ns given (overhead__update_sys), each step between two updates is
 * "on" when hits advanced in it, "off" otherwise (the budget's pauses,
 * idle spells), and:
 *
 *	r    = off_sys / off_cpu	(its own syscalls per CPU ns; until
 *					 OVERHEAD_SITU_MIN_OFF_NS of off CPU,
 *					 the same over its life before its
 *					 first update if that was as long
 *					 (attached to a running process), else 0)
 *	psys = (on_sys - r x on_cpu) / (1 - r x USER)	(the traps' system time)
 *	cost = USER x psys / on_hits
 *
 * USER (OVERHEAD_SITU_USER) is the user-side refill after a trap, as a
 * share of its system time: 1.18 on redis, 1.21 on cc1plus, measured
 * (docs/PLATFORM.md). Taken once on_sys reaches OVERHEAD_SITU_MIN_SYS_NS
 * (tick-sampled: enough ticks), within [SITU_MIN, SITU_MAX] x the
 * calibrated cost: psys / hits above SITU_MAX x it is the program's own
 * syscalls (no pause told them apart), or r above SITU_MAX_OWN (a
 * process that is mostly syscalls): calibrated; below SITU_MIN, a
 * calibration stretched by load at start, kept at SITU_MIN x it.
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
/* The in-place cost (above). */
#define OVERHEAD_SITU_MIN_SYS_NS	200000000ULL
#define OVERHEAD_SITU_MIN_OFF_NS	100000000ULL
#define OVERHEAD_SITU_USER		1.2
#define OVERHEAD_SITU_MIN		0.5
#define OVERHEAD_SITU_MAX		3.0
#define OVERHEAD_SITU_MAX_OWN		0.5
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
/* A process's system time, split by the steps between its updates. */
struct overhead_situ {
	uint64_t hits;			/* in the steps with hits */
	uint64_t on_cpu_ns, on_sys_ns;	/* CPU and system time in those */
	uint64_t off_cpu_ns, off_sys_ns;	/* in the steps without */
	/* at its first update, if it had run unprobed before */
	uint64_t base_cpu_ns, base_sys_ns;
	bool has_sys;			/* every update gave it */
};

/* The cost per hit of a process with that system time, the calibrated
 * one being ns_per_hit (the rule above). */
double overhead__cost(double ns_per_hit, const struct overhead_situ *s);
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
