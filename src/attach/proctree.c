// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * proctree.c - the processes of a session. The BPF side keeps the target
 * set the probes and the CPU sampler filter on; with --children its fork
 * tracepoint adds children of tracked processes in the kernel, before
 * they run, and notifies us here so their heap probes follow (a fork
 * copies the parent's mappings: the allocator is found at once). An exec
 * detaches the old image's probes and re-resolves: under ptrace at the
 * exec stop, run to the same point of startup as the first program;
 * otherwise by retrying until the new image's allocator is mapped (its
 * first allocations can be missed). Exited processes leave the set, so
 * its bound (MT_MAX_TARGETS) is on processes alive at once.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "attach/allocsample.h"
#include "attach/launch.h"
#include "attach/probes.h"
#include "attach/proctree.h"
#include "attach/usdt.h"
#include "process/elfinfo.h"
#include "process/procstat.h"
#include "process/targets.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/u64map.h"

/* An exec'd image's allocator is looked for this long after the exec. */
#define REEXEC_WINDOW_NS (2ULL * 1000 * 1000 * 1000)
#define LIVENESS_PERIOD_NS (200ULL * 1000 * 1000)
/* /proc/PID/stat is one line. */
#define STAT_MAX 4096

struct proctree {
	struct proctree_opts o;
	struct u64map procs;	/* pid -> 1, or the deadline of a pending
				 * re-resolution after an exec */
	struct u64map files;	/* pid -> identity of the allocator file
				 * its heap probes are on */
	struct u64map modes;	/* pid -> enum proctree_heap, when not
				 * PROCTREE_HEAP_CALLS */
	struct u64map exited;	/* launch mode: pid -> when it exited, its
				 * links not destroyed yet */
	struct u64map waiting;	/* launch mode: pid -> since when it has
				 * been seen blocked waiting for a child */
	struct u64map parked;	/* launch mode: pid -> struct allocator_plan * */
	struct u64map parents;	/* launch mode: pid -> its parent at fork */
	struct u64map hits;	/* launch mode: pid -> its probe hits at the
				 * last park check */
	struct u64map execs;	/* pid -> execs seen (absent: none) */
	uint64_t next_park;
	bool warned_unhookable;
	pid_t main;
	size_t seen;
	uint64_t next_check;
};

static void on_signal(void *ctx, pid_t tid, int sig);

struct proctree *proctree__new(const struct proctree_opts *o)
{
	struct proctree *pt = calloc(1, sizeof(*pt));

	if (!pt)
		return NULL;
	pt->o = *o;
	if (o->launched && o->heap)
		launch__on_signal(on_signal, pt);
	return pt;
}

void proctree__free(struct proctree *pt)
{
	uint64_t pid, v;
	size_t it = 0;

	if (!pt)
		return;
	if (pt->o.launched && pt->o.heap)
		launch__on_signal(NULL, NULL);
	while (u64map__next(&pt->parked, &it, &pid, &v))
		free((void *)(uintptr_t)v);
	u64map__free(&pt->parked);
	u64map__free(&pt->waiting);
	u64map__free(&pt->parents);
	u64map__free(&pt->hits);
	u64map__free(&pt->execs);
	u64map__free(&pt->procs);
	u64map__free(&pt->files);
	u64map__free(&pt->modes);
	u64map__free(&pt->exited);
	free(pt);
}

pid_t proctree__main(const struct proctree *pt)
{
	return pt->main;
}

size_t proctree__seen(const struct proctree *pt)
{
	return pt->seen;
}

/* A launched process that exited has its links destroyed this long after
 * (and only while no ptrace stop waits), on the closer's thread
 * (probes__detach_pid_later): destroying them takes tens of ms
 * (uprobe_unregister walks every mapping of libc and waits for RCU),
 * while its parent's SIGCHLD signal-delivery stop, which follows within
 * microseconds, or the parent's next fork, would wait for it in this
 * loop (g++ waited 45 ms for each of cc1plus and as). */
#define EXITED_DETACH_NS (2ULL * 1000 * 1000)

/* Which file a is (0 if it cannot be told): an exec'd image bound to the
 * same allocator keeps its probes. */
static uint64_t file_id(const struct allocator *a)
{
	struct stat st;
	uint64_t v[2];

	if (stat(a->open_path, &st))
		return 0;
	v[0] = (uint64_t)st.st_dev;
	v[1] = (uint64_t)st.st_ino;
	return hash__words(0, v, 2) ?: 1;
}

static void detach_heap(struct proctree *pt, pid_t pid)
{
	u64map__del(&pt->files, (uint64_t)pid, NULL);
	u64map__del(&pt->modes, (uint64_t)pid, NULL);
	probes__detach_pid(pt->o.probes, pid);
}

uint64_t proctree__execs(const struct proctree *pt, pid_t pid)
{
	const uint64_t *n = pt ? u64map__get((struct u64map *)&pt->execs,
					      (uint64_t)pid) : NULL;

	return n ? *n : 0;
}

enum proctree_heap proctree__heap_mode(const struct proctree *pt, pid_t pid)
{
	const uint64_t *v = u64map__get((struct u64map *)&pt->modes,
					(uint64_t)pid);

	if (u64map__get(&pt->parked, (uint64_t)pid))
		return PROCTREE_HEAP_PARKED;

	return v ? (enum proctree_heap)*v : PROCTREE_HEAP_CALLS;
}

/* The cheaper probes a process can have instead of one on every
 * malloc/free, as the session's first process gets them: its
 * otel_memory USDT probes (it samples in-process: a preloaded
 * libmemtel-sampler.so is inherited by every child), else its
 * allocator's own sampled path when that sampler is on. The mode, or
 * PROCTREE_HEAP_CALLS when neither applies; -errno. */
static int attach_sampled(struct proctree *pt, pid_t pid,
			  const struct allocator *a)
{
	struct allocsample *as;
	char what[96];
	int err;

	err = usdt__attach(pt->o.probes, pid);
	if (err > 0) {
		mt_info("attached otel_memory USDT probes in %d file(s) of pid %d: the program samples in-process, malloc/free are not probed",
			err, pid);
		return PROCTREE_HEAP_USDT;
	}
	if (err < 0) {
		probes__detach_pid(pt->o.probes, pid);
		return err;
	}
	/* --sample-bytes 1 asks for every allocation: the full probes */
	if (pt->o.sample_bytes <= 1)
		return PROCTREE_HEAP_CALLS;
	as = malloc(sizeof(*as));
	if (!as)
		return -ENOMEM;
	err = allocsample__find(pid, a, as);
	if (err || as->state == ALLOCSAMPLE_OFF) {
		free(as);
		return err ? err : PROCTREE_HEAP_CALLS;
	}
	allocsample__describe(as, what, sizeof(what));
	if (as->state == ALLOCSAMPLE_UNHOOKABLE) {
		if (!pt->warned_unhookable)
			mt_info("warning: %s is on in pid %d but cannot be hooked (%s): probing every malloc/free instead",
				what, pid, as->why);
		pt->warned_unhookable = true;
		free(as);
		return PROCTREE_HEAP_CALLS;
	}
	err = probes__attach_allocsample(pt->o.probes, pid, as);
	if (err < 0) {
		probes__detach_pid(pt->o.probes, pid);
		mt_info("warning: cannot attach to the sampled path of %s in pid %d (%s): probing every malloc/free instead",
			a->path, pid, strerror(-err));
		free(as);
		return PROCTREE_HEAP_CALLS;
	}
	mt_info("attached %d probes to the sampled path of %s in pid %d: %s samples, malloc/free are not probed",
		err, a->path, pid, what);
	free(as);
	return PROCTREE_HEAP_SAMPLED;
}

/* Heap probes of pid on allocator a (found now when NULL), unless they
 * are on that file already: attaching and detaching uprobes each cost
 * tens of ms (the kernel walks every mapping of the file, and libc is
 * mapped everywhere), and an exec usually binds the same libc. 0, or
 * -errno (-ENOENT: no allocator yet). */
static int attach_heap(struct proctree *pt, pid_t pid,
		       const struct allocator *a)
{
	struct probe_point pts[MT_OP__COUNT];
	struct allocator found;
	uint64_t id, *cur;
	size_t n = 0;
	int err, mode;

	if (!a) {
		err = allocator__find(pid, &found);
		if (err)
			return err;
		a = &found;
	}
	id = file_id(a);
	cur = u64map__get(&pt->files, (uint64_t)pid);
	if (cur && id && *cur == id)
		return 0;
	detach_heap(pt, pid);
	mode = attach_sampled(pt, pid, a);
	if (mode < 0)
		return mode;
	if (mode != PROCTREE_HEAP_CALLS) {
		if ((id && u64map__set(&pt->files, (uint64_t)pid, id)) ||
		    u64map__set(&pt->modes, (uint64_t)pid, (uint64_t)mode)) {
			detach_heap(pt, pid);
			return -ENOMEM;
		}
		return 0;
	}
	err = allocator__plan(a, pts, &n);
	if (err)
		return err;
	err = probes__attach_pid(pt->o.probes, pid, a, pts, n);
	if (err < 0) {
		probes__detach_pid(pt->o.probes, pid);
		return err;
	}
	if (id && u64map__set(&pt->files, (uint64_t)pid, id)) {
		probes__detach_pid(pt->o.probes, pid);
		return -ENOMEM;
	}
	mt_info("attached %d heap probes to %s (%s) in pid %d (%s)", err,
		a->path, a->kind, pid,
		probes__session(pt->o.probes) ? "uprobe session"
					      : "uprobes + uretprobes");
	return 0;
}

static void detach_exited(struct proctree *pt, pid_t pid)
{
	/* on the closer's thread: nothing can hit them */
	if (u64map__del(&pt->exited, (uint64_t)pid, NULL))
		probes__detach_pid_later(pt->o.probes, pid);
}

/* The links of processes that exited EXITED_DETACH_NS ago or more (all
 * with force). */
static void flush_exited(struct proctree *pt, uint64_t now, bool force)
{
	uint64_t pid, at;
	size_t it = 0;

	/* deletion leaves a tombstone: the iteration goes on */
	while (u64map__next(&pt->exited, &it, &pid, &at))
		if (force || now >= at + EXITED_DETACH_NS)
			detach_exited(pt, (pid_t)pid);
}

/* Track pid and remember it. 0 or -errno. */
static int track(struct proctree *pt, pid_t pid)
{
	int err;

	/* a pid reused before its last owner's links went: those go now,
	 * before this one gets its own */
	detach_exited(pt, pid);
	err = probes__track(pt->o.probes, pid);
	if (err)
		return err;
	err = u64map__set(&pt->procs, (uint64_t)pid, 1);
	if (err) {
		probes__untrack(pt->o.probes, pid);
		return err;
	}
	if (!pt->main)
		pt->main = pid;
	pt->seen++;
	/* its maps read now: a process that exits right after allocating
	 * still gets its stacks symbolized */
	if (pt->o.targets)
		targets__get(pt->o.targets, pid);
	return 0;
}

int proctree__add_attached(struct proctree *pt, pid_t pid,
			   const struct allocator *a, enum proctree_heap mode)
{
	uint64_t id = a ? file_id(a) : 0;
	int err;

	if (u64map__get(&pt->procs, (uint64_t)pid))
		return 0;
	err = track(pt, pid);
	if (!err && id)
		err = u64map__set(&pt->files, (uint64_t)pid, id);
	if (!err && mode != PROCTREE_HEAP_CALLS)
		err = u64map__set(&pt->modes, (uint64_t)pid, (uint64_t)mode);
	return err;
}

int proctree__add(struct proctree *pt, pid_t pid, const struct allocator *a)
{
	int err;

	if (u64map__get(&pt->procs, (uint64_t)pid))
		return 0;
	err = track(pt, pid);
	if (err)
		return err;
	if (!pt->o.heap)
		return 0;
	err = attach_heap(pt, pid, a);
	if (err == -ENOENT)
		mt_info("pid %d: no recognised allocator, CPU samples only",
			pid);
	else if (err && err != -ESRCH)
		mt_err("cannot attach heap probes to pid %d: %s", pid,
		       strerror(-err));
	return 0;
}

static void remove_pid(struct proctree *pt, pid_t pid)
{
	u64map__del(&pt->execs, (uint64_t)pid, NULL);
	if (!u64map__del(&pt->procs, (uint64_t)pid, NULL))
		return;
	detach_heap(pt, pid);
	probes__untrack(pt->o.probes, pid);
}

void proctree__remove(struct proctree *pt, pid_t pid)
{
	remove_pid(pt, pid);
}

int proctree__parse_ppid(const char *stat, pid_t *ppid)
{
	const char *p = strrchr(stat, ')');
	char *end;
	long v;

	/* "PID (COMM) S PPID ...": comm may hold ") " itself */
	if (!p || p[1] != ' ' || !p[2] || p[3] != ' ')
		return -EINVAL;
	errno = 0;
	v = strtol(p + 4, &end, 10);
	if (errno || end == p + 4 || *end != ' ' || v < 0 || v > INT32_MAX)
		return -EINVAL;
	*ppid = (pid_t)v;
	return 0;
}

/* Every process's parent, from /proc/[0-9]+/stat. 0 or -errno. */
static int read_parents(struct u64map *parents)
{
	struct dirent *d;
	char path[sizeof(((struct dirent *)0)->d_name) + 16], *text;
	DIR *dir;
	pid_t ppid;
	int err = 0;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", d->d_name);
		text = NULL;
		/* gone meanwhile: not a descendant any more */
		if (fileio__read_text(path, 0, STAT_MAX, &text, NULL))
			continue;
		if (!proctree__parse_ppid(text, &ppid) && ppid)
			err = u64map__set(parents, strtoull(d->d_name, NULL, 10),
					  (uint64_t)ppid);
		free(text);
		if (err)
			break;
	}
	closedir(dir);
	return err;
}

int proctree__add_descendants(struct proctree *pt, pid_t root)
{
	struct u64map parents = {};
	uint64_t pid, ppid;
	int added = 0, err;
	bool grew = true;

	err = read_parents(&parents);
	/* whole generations at a time: a child's pid may be below its
	 * parent's after pid wrap-around */
	while (!err && grew) {
		size_t it = 0;

		grew = false;
		while (u64map__next(&parents, &it, &pid, &ppid)) {
			if ((pid_t)ppid != root &&
			    !u64map__get(&pt->procs, ppid))
				continue;
			if (u64map__get(&pt->procs, pid))
				continue;
			err = proctree__add(pt, (pid_t)pid, NULL);
			if (err)
				break;
			added++;
			grew = true;
		}
	}
	u64map__free(&parents);
	return err ? err : added;
}

int proctree__resolve_at_exec(pid_t pid, struct allocator *a)
{
	char exe[64];
	int err;

	/* a static binary (or one with its own malloc) has its allocator
	 * mapped already; otherwise let the loader map the libraries */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
	err = allocator__find(pid, a);
	if (err == 0 && strcmp(a->kind, "executable") != 0)
		err = -ENOENT;
	if (err == -ENOENT && !elfinfo__is_static(exe)) {
		err = launch__run_to_libs(pid);
		if (err)
			return err;
		err = allocator__find(pid, a);
	}
	return err;
}

/* pid exec'd: what is known of its old image goes (its probes stay
 * until the new image's allocator is known: the same file keeps them). */
static void forget_image(struct proctree *pt, pid_t pid)
{
	uint64_t *n = u64map__get(&pt->execs, (uint64_t)pid);

	if (n)
		(*n)++;
	else
		u64map__set(&pt->execs, (uint64_t)pid, 1);
	if (pt->o.targets)
		targets__forget(pt->o.targets, pid);
}

void proctree__on_proc(void *ctx, const struct mt_proc_event *e)
{
	struct proctree *pt = ctx;
	pid_t pid = (pid_t)e->hdr.pid;

	/* under ptrace the tree is followed at its stops instead */
	if (pt->o.launched)
		return;
	if (e->hdr.type == MT_EV_PROC_FORK) {
		/* the kernel tracks it already; an untracked parent means
		 * we dropped it meanwhile */
		if (!u64map__get(&pt->procs, e->ppid)) {
			probes__untrack(pt->o.probes, pid);
			return;
		}
		mt_info("following pid %d, child of %u", pid, e->ppid);
		proctree__add(pt, pid, NULL);
		return;
	}
	if (!u64map__get(&pt->procs, (uint64_t)pid))
		return;
	forget_image(pt, pid);
	u64map__set(&pt->procs, (uint64_t)pid,
		    clock__mono_ns() + REEXEC_WINDOW_NS);
}

/*
 * Parking (launch mode). A uprobe hit runs every consumer of that probe,
 * those of other processes' links on the same file included, and a
 * session consumer that filters the hit out still asks for its return:
 * with a second process's link on libc, every malloc and free of the
 * busy one pays a return trap too (cc1plus under g++ and /usr/bin/time:
 * 740 ns per hit against 484 ns alone, docs/PLATFORM.md). A driver, a
 * shell or make mostly waits for its children, so one seen blocked in
 * wait4()/waitid() for PARK_AFTER_NS, single-threaded, while another
 * process of the tree has probes on the same file, is parked: its links
 * go, the plan to attach them again is kept. It cannot allocate before it
 * leaves the wait, and it leaves it only when a child exits or a signal
 * arrives. A child's exit stop (LAUNCH_EXITING) comes before the parent is
 * told (a zombie tracee is its tracer's to reap first), and a traced
 * process stops for every signal it gets, SIGCHLD included, before it
 * runs a user instruction (launch__on_signal): its probes are attached
 * again at the first of these. Nothing is lost, so nothing is partial.
 */
#define PARK_AFTER_NS	(100ULL * 1000 * 1000)
#define PARK_CHECK_NS	(20ULL * 1000 * 1000)

static bool waits_for_child(pid_t pid)
{
	long nr;

	if (procstat__blocked_syscall(pid, &nr))
		return false;
#ifdef SYS_wait4
	if (nr == SYS_wait4)
		return true;
#endif
#ifdef SYS_waitid
	if (nr == SYS_waitid)
		return true;
#endif
	return false;
}

/* Into *n: file id -> how many processes, not parked, have heap probes
 * on it (one pass over the tree, not one per process). */
static int count_sharers(const struct proctree *pt, struct u64map *n)
{
	uint64_t pid, id, *c;
	size_t it = 0;

	while (u64map__next(&pt->files, &it, &pid, &id)) {
		if (u64map__get(&pt->parked, pid) ||
		    u64map__get(&pt->modes, pid))
			continue;
		c = u64map__get(n, id);
		if (c)
			(*c)++;
		else if (u64map__set(n, id, 1))
			return -ENOMEM;
	}
	return 0;
}

/* pid's probe hits moved since the last check (it is running, not
 * waiting): a map lookup, which spares the /proc read of a busy one. */
static bool hits_moved(struct proctree *pt, pid_t pid)
{
	uint64_t h, *last;
	bool moved;

	if (probes__hits(pt->o.probes, pid, &h))
		return false;
	last = u64map__get(&pt->hits, (uint64_t)pid);
	moved = last && *last != h;
	if (last)
		*last = h;
	else
		u64map__set(&pt->hits, (uint64_t)pid, h);
	return moved;
}

/* true if pid's probes are parked now */
static bool park(struct proctree *pt, pid_t pid, uint64_t id)
{
	struct allocator_plan *k = malloc(sizeof(*k));

	if (!k)
		return false;
	if (allocator__plan_pid(pid, k) || file_id(&k->a) != id ||
	    u64map__set(&pt->parked, (uint64_t)pid, (uintptr_t)k)) {
		free(k);
		return false;
	}
	probes__detach_pid_later(pt->o.probes, pid);
	mt_debug("pid %d waits for a child: heap probes parked until it can run again",
		 (int)pid);
	return true;
}

/* pid may run again: its probes go back on (nothing if not parked). */
static void unpark(struct proctree *pt, pid_t pid)
{
	struct allocator_plan *k;
	uint64_t v;
	int err;

	u64map__del(&pt->waiting, (uint64_t)pid, NULL);
	if (!pid || !u64map__del(&pt->parked, (uint64_t)pid, &v))
		return;
	k = (struct allocator_plan *)(uintptr_t)v;
	/* never two links: its old ones closed (the closer may still hold
	 * them), and none a budget resume may have attached */
	probes__settle(pt->o.probes, pid);
	probes__detach_pid(pt->o.probes, pid);
	err = probes__attach_pid(pt->o.probes, pid, &k->a, k->pts, k->n);
	if (err < 0) {
		if (err != -ESRCH)
			mt_err("pid %d: cannot attach heap probes again after a wait: %s",
			       (int)pid, strerror(-err));
		detach_heap(pt, pid);
	} else {
		mt_debug("pid %d: heap probes on again (it may leave its wait)",
			 (int)pid);
	}
	free(k);
}

/* A parked process gone: its plan goes. */
static void drop_park(struct proctree *pt, pid_t pid)
{
	uint64_t v;

	u64map__del(&pt->waiting, (uint64_t)pid, NULL);
	u64map__del(&pt->hits, (uint64_t)pid, NULL);
	u64map__del(&pt->execs, (uint64_t)pid, NULL);
	if (u64map__del(&pt->parked, (uint64_t)pid, &v))
		free((void *)(uintptr_t)v);
}

/* The parent of pid (0 if it cannot be read). */
static pid_t parent_of(pid_t pid)
{
	char path[64], *text = NULL;
	pid_t ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (fileio__read_text(path, 0, STAT_MAX, &text, NULL))
		return 0;
	if (proctree__parse_ppid(text, &ppid))
		ppid = 0;
	free(text);
	return ppid;
}

/* pid stopped for a signal that stops or continues it: it and its
 * parent may run (a wait4() with WUNTRACED or WCONTINUED returns for a
 * child's stop and continue too). */
static void may_wake(struct proctree *pt, pid_t pid)
{
	if (!pt->parked.len && !pt->waiting.len)
		return;
	unpark(pt, pid);
	unpark(pt, parent_of(pid));
}

/* A signal for tid: it may leave its wait. */
static void on_signal(void *ctx, pid_t tid, int sig)
{
	struct proctree *pt = ctx;

	switch (sig) {
	case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU: case SIGCONT:
		may_wake(pt, tid);
		break;
	default:
		if (pt->parked.len || pt->waiting.len)
			unpark(pt, tid);
	}
}

static void park_waiting(struct proctree *pt, uint64_t now)
{
	uint64_t pid, v, *id, *since, *sharers;
	struct u64map count = {};
	size_t it = 0;

	if (!pt->o.heap || now < pt->next_park)
		return;
	pt->next_park = now + PARK_CHECK_NS;
	if (count_sharers(pt, &count))
		goto out;
	while (u64map__next(&pt->procs, &it, &pid, &v)) {
		if (u64map__get(&pt->parked, pid))
			continue;
		id = u64map__get(&pt->files, pid);
		/* it counts itself among the sharers of its file */
		sharers = id ? u64map__get(&count, *id) : NULL;
		if (!id || u64map__get(&pt->modes, pid) || !sharers ||
		    *sharers < 2 ||
		    !probes__linked(pt->o.probes, (pid_t)pid) ||
		    hits_moved(pt, (pid_t)pid) ||
		    !waits_for_child((pid_t)pid)) {
			u64map__del(&pt->waiting, pid, NULL);
			continue;
		}
		since = u64map__get(&pt->waiting, pid);
		if (!since) {
			u64map__set(&pt->waiting, pid, now);
		} else if (now - *since >= PARK_AFTER_NS) {
			v = *id;
			if (park(pt, (pid_t)pid, v))
				(*u64map__get(&count, v))--;
		}
	}
out:
	u64map__free(&count);
}

/* Launch mode: one ptrace stop that needs us. */
static void on_launch_event(struct proctree *pt, enum launch_state st,
			    const struct launch_event *ev)
{
	struct allocator a;
	pid_t parent;
	uint64_t v;
	int err;

	switch (st) {
	case LAUNCH_FORKED:
		/* it ran to fork: not waiting all along */
		u64map__del(&pt->waiting, (uint64_t)ev->parent, NULL);
		if (pt->o.heap)
			u64map__set(&pt->parents, (uint64_t)ev->pid,
				    (uint64_t)ev->parent);
		mt_info("following pid %d, child of %d", ev->pid, ev->parent);
		proctree__add(pt, ev->pid, NULL);
		launch__resume(ev->pid);
		launch__resume(ev->parent);
		return;
	case LAUNCH_EXECED:
		/* its last events of the old image are read with the old
		 * maps */
		probes__drain_all(pt->o.probes);
		forget_image(pt, ev->pid);
		if (!u64map__get(&pt->procs, (uint64_t)ev->pid) &&
		    track(pt, ev->pid))
			mt_err("cannot track pid %d after exec", ev->pid);
		pt->main = ev->pid;
		if (pt->o.heap) {
			err = proctree__resolve_at_exec(ev->pid, &a);
			if (!err)
				err = attach_heap(pt, ev->pid, &a);
			if (err)
				detach_heap(pt, ev->pid);
			if (err == -ENOENT)
				mt_info("pid %d: no recognised allocator after exec, CPU samples only",
					ev->pid);
			else if (err && err != -ESRCH)
				mt_err("pid %d: cannot attach heap probes after exec: %s",
				       ev->pid, strerror(-err));
		}
		launch__resume(ev->pid);
		/* opened now, while its new image is mapped (it names the
		 * session even after it exits), but after it runs again:
		 * opening a large image (cc1plus) took 18 ms of a stop; one
		 * that exits first is opened at its exit stop */
		if (pt->o.targets)
			targets__get(pt->o.targets, ev->pid);
		return;
	case LAUNCH_EXITING:
		/* a parked parent's probes go back on after it is let go:
		 * the parent learns of its exit only once we reap it (a
		 * zombie tracee is its tracer's first), so our attach runs
		 * beside its teardown, not before it */
		parent = pt->parked.len || pt->waiting.len ?
			 parent_of(ev->pid) : 0;
		if (pt->o.on_exiting)
			pt->o.on_exiting(pt->o.ctx, ev->pid);
		launch__resume(ev->pid);
		unpark(pt, parent);
		return;
	case LAUNCH_EXITED:
		/* gone from the set now, its links later (EXITED_DETACH_NS) */
		drop_park(pt, ev->pid);
		/* reaped without an exit stop (its parent is told now) */
		if (u64map__del(&pt->parents, (uint64_t)ev->pid, &v))
			unpark(pt, (pid_t)v);
		if (!u64map__del(&pt->procs, (uint64_t)ev->pid, NULL))
			return;
		u64map__del(&pt->files, (uint64_t)ev->pid, NULL);
		u64map__del(&pt->modes, (uint64_t)ev->pid, NULL);
		probes__untrack(pt->o.probes, ev->pid);
		if (u64map__set(&pt->exited, (uint64_t)ev->pid,
				clock__mono_ns()))
			probes__detach_pid(pt->o.probes, ev->pid);
		return;
	case LAUNCH_RUNNING:
		return;
	}
}

size_t proctree__poll(struct proctree *pt)
{
	uint64_t now = clock__mono_ns(), pid, v;
	struct launch_event ev;
	enum launch_state st;
	size_t it = 0, alive = 0;
	bool check = now >= pt->next_check;

	if (pt->o.launched) {
		/* bounded: the loop's drains must not starve */
		bool idle = false;

		for (int i = 0; i < 64; i++) {
			st = launch__next(&ev);
			if (st == LAUNCH_RUNNING) {
				idle = true;
				break;
			}
			on_launch_event(pt, st, &ev);
		}
		if (idle) {
			flush_exited(pt, now, !launch__processes());
			park_waiting(pt, now);
		}
		return launch__processes();
	}
	if (check)
		pt->next_check = now + LIVENESS_PERIOD_NS;
	while (u64map__next(&pt->procs, &it, &pid, &v)) {
		if (check && procstat__pid_state((pid_t)pid)) {
			remove_pid(pt, (pid_t)pid);
			/* removal leaves a tombstone: iteration goes on */
			continue;
		}
		alive++;
		if (v == 1)
			continue;
		/* an exec'd image: its allocator may be mapped by now */
		if (attach_heap(pt, (pid_t)pid, NULL) == 0 || now >= v) {
			if (now >= v) {
				detach_heap(pt, (pid_t)pid);
				mt_info("pid %d: no allocator found after exec, CPU samples only",
					(int)pid);
			}
			u64map__set(&pt->procs, pid, 1);
			if (pt->o.targets)
				targets__forget(pt->o.targets, (pid_t)pid);
		}
	}
	return alive;
}
