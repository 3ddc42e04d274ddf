/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * proctree.h - the set of processes a session profiles: the --pid list,
 * their descendants with --children, and in launch mode every process of
 * the launched tree. Each is tracked in the BPF target set and has its
 * own heap probes, re-resolved after an exec and detached at its exit.
 * In launch mode a process that waits for its children while another
 * process of the tree has probes on the same allocator file is parked:
 * its probes are detached until a child of it exits or it takes a
 * signal, both seen at a ptrace stop before it can run again.
 */
#ifndef MEMTEL_PROCTREE_H
#define MEMTEL_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "memtel.h"
#include "attach/allocator.h"

struct probes;
struct targets;
struct proctree;

/* The heap probes a process has. */
enum proctree_heap {
	PROCTREE_HEAP_CALLS = 0,	/* every malloc/free (budget applies) */
	PROCTREE_HEAP_USDT,		/* otel_memory: it samples in-process */
	PROCTREE_HEAP_SAMPLED,		/* its allocator's own sampled path */
	/* launch mode: every malloc/free, but detached while it waits in
	 * wait4()/waitid() for a child (proctree.c: parked) */
	PROCTREE_HEAP_PARKED,
};

struct proctree_opts {
	struct probes *probes;
	uint64_t sample_bytes;		/* 1: every allocation, full probes */
	struct targets *targets;	/* forgotten/reopened at an exec */
	bool heap;			/* attach heap probes */
	bool launched;			/* the tree is ours, under ptrace */
	bool children;			/* --children: follow descendants */
	/* launch mode: pid stopped at exit, still mapped (may be NULL) */
	void (*on_exiting)(void *ctx, pid_t pid);
	void *ctx;
};

struct proctree *proctree__new(const struct proctree_opts *o);
void proctree__free(struct proctree *pt);

/* Track pid and attach its heap probes (to a, planned, when not NULL;
 * else found now). A process whose allocator cannot be found is still
 * tracked (CPU samples) and one line says why. 0 or -errno. */
int proctree__add(struct proctree *pt, pid_t pid, const struct allocator *a);
/* Track pid, whose heap probes (of the given mode) the caller attached
 * to a (NULL: none). 0 or -errno. */
int proctree__add_attached(struct proctree *pt, pid_t pid,
			   const struct allocator *a, enum proctree_heap mode);
/* Which heap probes pid has (PROCTREE_HEAP_CALLS also when none): only
 * those can be paused and resumed with the same plan. */
enum proctree_heap proctree__heap_mode(const struct proctree *pt, pid_t pid);
/* How many execs of pid were seen while it was followed: a change says
 * it runs a new image. */
uint64_t proctree__execs(const struct proctree *pt, pid_t pid);
/* Stop profiling pid (it no longer is what the caller profiles): detach
 * its heap probes and untrack it. Nothing if pid is not in the set. */
void proctree__remove(struct proctree *pt, pid_t pid);
/* Add every existing descendant of pid, from /proc. Count added, or
 * -errno. */
int proctree__add_descendants(struct proctree *pt, pid_t pid);
/* The allocator of a launched pid stopped at its exec: run its loader to
 * the point where the libraries are mapped (unless the allocator is in
 * the executable or the executable is static), then find it. 0, -ESRCH
 * (exited during startup), -ENOENT (no allocator), or -errno. */
int proctree__resolve_at_exec(pid_t pid, struct allocator *a);

/* ring_buffer callback for MT_EV_PROC_* notices (ctx: the proctree). */
void proctree__on_proc(void *ctx, const struct mt_proc_event *e);
/* Handle launch events, retry pending re-resolutions and drop exited
 * processes. Processes still alive. */
size_t proctree__poll(struct proctree *pt);
/* The process that names the session: the first target, or in launch
 * mode the last one to exec (for `sh -c 'exec prog'`, prog). */
pid_t proctree__main(const struct proctree *pt);
/* How many processes were profiled over the session. */
size_t proctree__seen(const struct proctree *pt);

/* Parent pid in the text of /proc/PID/stat. 0 or -EINVAL. */
int proctree__parse_ppid(const char *stat, pid_t *ppid);

#endif /* MEMTEL_PROCTREE_H */
