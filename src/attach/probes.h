/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * probes.h - the attach stage: load the BPF object, attach the allocator
 * probes to one process, and hand ring-buffer records to a callback.
 */
#ifndef MEMTEL_PROBES_H
#define MEMTEL_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/allocator.h"
#include "attach/allocsample.h"
#include "attach/golang.h"
#include "memtel.h"
#include "unwind/bpfunwind.h"

struct probes;

struct probes_opts {
	pid_t pid;
	uint64_t sample_bytes;	/* mean gap; <= 1: every allocation */
	uint32_t stack_bytes;	/* user stack window per sample */
	uint32_t ring_bytes;	/* ring buffer size (power of 2) */
	bool cpu;		/* load the CPU sampler */
	bool cpu_all;		/* sample every process, not just pid */
	bool kernel_stacks;	/* kernel frames in CPU samples */
	/* follow children: the kernel adds forked children of tracked
	 * processes to the target set and reports forks and execs */
	bool follow;
	uint32_t max_targets;	/* size of the target set; 0: MT_MAX_TARGETS */
	/* called for every ring-buffer record */
	int (*on_event)(void *ctx, void *data, size_t size);
	void *ctx;
};

/* Open and load the BPF object. NULL with errno set (EPERM: privileges). */
struct probes *probes__load(const struct probes_opts *o);
/* Attach to the planned points of allocator a. Returns the number of
 * probes attached, or -errno. */
int probes__attach(struct probes *p, const struct allocator *a,
		   const struct probe_point *pts, size_t n);
/* The same for process pid (which must be tracked). Its links are kept
 * apart so that probes__detach_pid() can drop them. */
int probes__attach_pid(struct probes *p, pid_t pid, const struct allocator *a,
		       const struct probe_point *pts, size_t n);
/* Detach every heap probe of pid (it exited, or exec'd a new image). */
void probes__detach_pid(struct probes *p, pid_t pid);
/* The same, the links closed on a thread of ours: for a process that
 * can hit them no more (exited, or blocked in a wait; closing a uprobe
 * link takes tens of ms). */
void probes__detach_pid_later(struct probes *p, pid_t pid);
/* Wait until every link of pid handed over is closed: before pid gets
 * links again, or its hits would run both. */
void probes__settle(struct probes *p, pid_t pid);
/* The closer still holds a link of pid (not blocking). */
bool probes__closing(struct probes *p, pid_t pid);
/* How long the closer's last close took, in ns (0: none yet). */
double probes__close_ns(struct probes *p);
/* Whether pid has links of its own (heap probes; pid 0: none). */
bool probes__linked(const struct probes *p, pid_t pid);
/* Add pid to / remove it from the BPF target set (heap probes and CPU
 * sampler filter on it). 0 or -errno (-E2BIG: the set is full). */
int probes__track(struct probes *p, pid_t pid);
void probes__untrack(struct probes *p, pid_t pid);
/* Cumulative heap probe hits of tracked process pid (every entry, return
 * and free invocation counted by the BPF side since it was tracked).
 * 0 or -ENOENT (not tracked); *hits is 0 on error. */
int probes__hits(struct probes *p, pid_t pid, uint64_t *hits);
/* Iterate over the tracked processes: prev 0 for the first. 0, or -ENOENT
 * at the end (a set changing meanwhile may restart the walk: a caller
 * must tolerate seeing a pid twice). */
int probes__next_target(struct probes *p, pid_t prev, pid_t *next);
/* Drop every record of pid before the on_event callback (one pid at a
 * time; 0 clears it): the calibration child's samples are never seen.
 * The sampler's calls counted meanwhile are left out of probes__counters
 * too (they are per CPU: only pid may be probed in between). */
void probes__ignore(struct probes *p, pid_t pid);
/* Attach the fork/exec tracepoints (done by probes__load when follow is
 * set). 0 or -errno. */
int probes__attach_tracepoints(struct probes *p);
/* Attach to the Go runtime's sampled-allocation hooks of process pid.
 * Returns the number of probes attached (2), or -errno. */
int probes__attach_go(struct probes *p, pid_t pid, const struct golang *g);
/* Attach to the sampled path of pid's allocator (s->state HOOKED)
 * instead of its malloc/free. Returns the number of probes attached, or
 * -errno. */
int probes__attach_allocsample(struct probes *p, pid_t pid,
			       const struct allocsample *s);
/* Open a sampling perf event at freq Hz on every online CPU (hardware
 * cycles, or the cpu-clock software event where there is no PMU) and
 * attach the CPU sampler. Returns the number of CPUs, or -errno; *event
 * names the event used. */
int probes__attach_cpu(struct probes *p, uint32_t freq, const char **event);
/* True if allocation probes run as one uprobe session (returns of
 * unsampled calls are not probed at all). */
bool probes__session(const struct probes *p);
/* Drain what is in the ring buffer now, at most 4096 records or 20 ms
 * (then 4096 is returned: call again for more). Events handled, or
 * -errno. */
int probes__drain(struct probes *p);
/* Drain until the ring is empty (at the end, and before an exec's or
 * exit's maps go). Events handled, or -errno. */
int probes__drain_all(struct probes *p);
/* The same, but for no longer than until deadline_ns (CLOCK_MONOTONIC):
 * a ring others keep full must not hold the caller. Records consumed, or
 * -errno. */
int probes__drain_until(struct probes *p, uint64_t deadline_ns);
/* Sleep up to ns (rounded up to whole ms) between drains; cut short by a
 * signal or by a record the BPF side submitted with a wakeup (the CPU
 * sampler's first sample of a process image and one 2 ms later, so that
 * a process living a few ms is read before it goes). True if a wakeup
 * came. */
bool probes__nap(struct probes *p, long ns);
/* Sum of the per-CPU counters (enum mt_counter) and sampler stats. */
void probes__counters(struct probes *p, uint64_t cnt[MT_CNT__COUNT],
		      uint64_t *calls, uint64_t *sampled);
void probes__destroy(struct probes *p);
/* The maps of BPF unwinding (bpf/unwind.bpf.h), valid until
 * probes__destroy. 0, or -ENOENT if it is off (MEMTEL_BPF_UNWIND=0). */
int probes__unwind_maps(struct probes *p, struct bpfunwind_maps *m);
/* Attach the USDT program for provider:name (otel_memory alloc or free)
 * at every site of it in path, for pid. 0 or -errno. */
int probes__attach_usdt(struct probes *p, pid_t pid, const char *path,
			const char *provider, const char *name);

#endif /* MEMTEL_PROBES_H */
