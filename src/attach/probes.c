// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * probes.c - load memtel.bpf.c's skeleton, attach uprobes/uretprobes at the
 * planned offsets with the op as bpf_cookie, and drain the ring buffer.
 *
 * The BPF side never wakes us (BPF_RB_NO_WAKEUP, see docs/PLATFORM.md), so the
 * session loop calls probes__drain() on a short timer.
 *
 * Allocation functions are attached as one uprobe session (kernel 6.12+)
 * when the kernel takes it: the entry half tells the kernel to skip the
 * return of unsampled calls. The frees go in a plain uprobe_multi link
 * beside it (another process's session link would make each of them
 * pay a return). What libbpf 1.1 cannot do for that lives in
 * uprobe_multi_compat.c; kernels without sessions get classic uprobe +
 * uretprobe pairs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "util/clock.h"
#include "util/log.h"
#include "memtel.skel.h"
#include "memtel_allocsample.h"
#include "attach/probes.h"
#include "attach/uprobe_multi_compat.h"
#include "model/sampling.h"

/* One attachment: a libbpf link, or (fd >= 0) a uprobe_multi session
 * link libbpf 1.1 cannot wrap; pid 0 for the CPU sampler's. */
struct plink {
	pid_t pid;
	struct bpf_link *link;
	int fd;
};

/* Links handed over to be closed on threads of our own (probes__detach_
 * pid_later): closing a uprobe link waits for RCU grace periods, 20-90 ms
 * here (docs/PLATFORM.md), and a process tree's next ptrace stop (a
 * fork, an exit) would wait behind it in the session loop. A process's
 * two links close side by side: a link's breakpoints go when its close
 * begins, and one closed after the other kept its process trapping a
 * grace period longer. */
#define CLOSER_THREADS 2

struct closer {
	pthread_t thread[CLOSER_THREADS];
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* work queued, or done, or stop */
	struct plink *queue;
	size_t n, cap;
	pid_t closing[CLOSER_THREADS];	/* whose links are being closed */
	double close_ns;	/* how long the last close took */
	int started;		/* threads running */
	bool stop;
};

struct closer_arg {
	struct closer *c;
	int slot;
};

struct probes {
	struct memtel_bpf *skel;
	struct closer closer;
	bool session;		/* alloc_session is loaded */
	bool bpf_unwind;	/* unwind tables may be loaded */
	pid_t pid;		/* the first target (probes__attach) */
	struct ring_buffer *rb;
	int epfd;		/* the ring, edge-triggered: probes__nap */
	struct plink *links;
	size_t n_links;
	int nr_cpus;
	/* the caller's record callback, and what one drain may still take */
	int (*on_event)(void *ctx, void *data, size_t size);
	void *ctx;
	int budget;
	uint64_t deadline;	/* CLOCK_MONOTONIC ns */
	pid_t ignored;		/* probes__ignore(): its records are dropped */
	/* calls and sampled calls of ignored processes: the sampler's
	 * counters are per CPU, not per process (their start at ignore) */
	uint64_t ign_calls, ign_sampled, ign_calls0, ign_sampled0;
	/* the same for the heap path's counters (a calibration at
	 * --sample-bytes 1 floods the ring: its cut stacks are not ours) */
	uint64_t ign_cnt[MT_CNT__COUNT], ign_cnt0[MT_CNT__COUNT];
};

/* Records one probes__drain() hands over at most, and for how long:
 * libbpf's consume goes on while the producer keeps up, so a consumer
 * slower than the CPU sampler on a loaded host (a new stack symbolized
 * can take milliseconds) would never return to its loop (timers, health
 * ticks, process scans). */
#define PROBES_DRAIN_MAX 4096
#define PROBES_DRAIN_NS (20ULL * 1000 * 1000)
#define PROBES_DRAIN_FULL (-ECANCELED)	/* the budget ended the drain */

/* Every record goes to the caller's callback, except those of the process
 * probes__ignore() named (attach/calibrate.c's child). */
static int on_record(void *ctx, void *data, size_t size)
{
	const struct mt_event_hdr *h = data;
	struct probes *p = ctx;
	int err = 0;

	if (!p->ignored || size < sizeof(*h) || h->pid != (__u32)p->ignored)
		err = p->on_event(p->ctx, data, size);
	if (err < 0)
		return err;
	/* libbpf has consumed this record when a callback says stop. The
	 * clock is read every 64 records only: at one per record it was a
	 * fifth of the profiler's CPU time at --sample-bytes 1. */
	if (--p->budget <= 0 ||
	    (!(p->budget & 63) && clock__mono_ns() >= p->deadline))
		return PROBES_DRAIN_FULL;
	return err;
}

/* Start every CPU's countdown at a random gap, not at 0, so the first
 * allocation after attach is not always sampled. */
static int seed_samplers(struct probes *p, const uint64_t *table)
{
	struct mt_sampler *v;
	uint32_t zero = 0;
	int i, err;

	v = calloc(p->nr_cpus, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < p->nr_cpus; i++)
		v[i].remaining = (int64_t)table[rand() % MT_SAMPLE_TABLE_SIZE];
	err = bpf_map_update_elem(bpf_map__fd(p->skel->maps.samplers), &zero,
				  v, BPF_ANY);
	free(v);
	return err ? -errno : 0;
}

/* Unwinding in BPF (bpf/unwind.bpf.h) unless MEMTEL_BPF_UNWIND=0, which
 * sends every sampled call's window to libdwfl as before (the tests
 * compare both). */
static void set_unwind(struct probes *p)
{
	const char *env = getenv("MEMTEL_BPF_UNWIND");
	long tck = sysconf(_SC_CLK_TCK);

	p->bpf_unwind = !env || strcmp(env, "0");
	p->skel->rodata->bpf_unwind = p->bpf_unwind;
	if (tck > 0)
		p->skel->rodata->ns_per_tick = 1000000000ULL / (uint64_t)tck;
}

int probes__unwind_maps(struct probes *p, struct bpfunwind_maps *m)
{
	if (!p->bpf_unwind)
		return -ENOENT;
	m->rows = bpf_map__fd(p->skel->maps.unw_rows);
	m->files = bpf_map__fd(p->skel->maps.unw_files);
	m->procs = bpf_map__fd(p->skel->maps.unw_procs);
	m->stacks = bpf_map__fd(p->skel->maps.ustacks);
	m->max_rows = bpf_map__max_entries(p->skel->maps.unw_rows);
	return 0;
}

static int open_load(struct probes *p, const struct probes_opts *o,
		     bool session)
{
	uint64_t *table;
	int err;

	p->skel = memtel_bpf__open();
	if (!p->skel)
		return -errno;
	p->skel->rodata->filter_tgids = o->pid > 0 || o->follow;
	p->skel->rodata->follow_children = o->follow;
	if (o->max_targets)
		bpf_map__set_max_entries(p->skel->maps.targets,
					 o->max_targets);
	p->skel->rodata->stack_bytes = o->stack_bytes > MT_MAX_STACK_BYTES ?
				       MT_MAX_STACK_BYTES : o->stack_bytes;
	p->skel->rodata->sample_all = o->sample_bytes <= 1;
	p->skel->rodata->cpu_all = o->cpu_all;
	p->skel->rodata->self_tgid = (uint32_t)getpid();
	p->skel->rodata->cpu_kernel = o->kernel_stacks;
	set_unwind(p);
	bpf_program__set_autoload(p->skel->progs.cpu_sample, o->cpu);
	/* node-wide, forks and execs of any process renew its symbols */
	bpf_program__set_autoload(p->skel->progs.proc_fork,
				  o->follow || o->cpu_all);
	bpf_program__set_autoload(p->skel->progs.proc_exec,
				  o->follow || o->cpu_all);
	/* the Go runtime's programs (probes__attach_go) load with the rest:
	 * whether a target is Go is only known per process */
	p->skel->rodata->session_mode = session;
	bpf_program__set_autoload(p->skel->progs.alloc_session, session);
	bpf_program__set_autoload(p->skel->progs.alloc_enter, !session);
	bpf_program__set_autoload(p->skel->progs.alloc_ret, !session);
	bpf_program__set_autoload(p->skel->progs.free_enter, !session);
	bpf_program__set_autoload(p->skel->progs.free_multi, session);
	if (session) {
		uprobe_multi_compat__set_session(p->skel->progs.alloc_session);
		uprobe_multi_compat__set_multi(p->skel->progs.free_multi);
	}
	table = (uint64_t *)p->skel->rodata->sample_table;
	sampling__fill_table(o->sample_bytes, table, MT_SAMPLE_TABLE_SIZE);
	if (o->ring_bytes)
		bpf_map__set_max_entries(p->skel->maps.events, o->ring_bytes);

	err = memtel_bpf__load(p->skel);
	if (err)
		return err;
	/* loading proves the attach type, not the link: probe that too */
	if (session) {
		err = uprobe_multi_compat__probe(p->skel->progs.alloc_session);
		if (err)
			return err;
	}
	p->session = session;
	if (o->sample_bytes > 1) {
		err = seed_samplers(p, table);
		if (err)
			return err;
	}
	return 0;
}

struct probes *probes__load(const struct probes_opts *o)
{
	struct probes *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = o->pid;
	p->epfd = -1;
	p->nr_cpus = libbpf_num_possible_cpus();
	if (p->nr_cpus <= 0) {
		err = p->nr_cpus ? p->nr_cpus : -EINVAL;
		goto fail;
	}
	err = open_load(p, o, !getenv("MEMTEL_NO_SESSION"));
	if (err && err != -EPERM && err != -EACCES) {
		/* kernels before 6.12: classic uprobe + uretprobe */
		mt_debug("uprobe sessions unavailable (%s): using uretprobes",
			 strerror(-err));
		memtel_bpf__destroy(p->skel);
		p->skel = NULL;
		err = open_load(p, o, false);
	}
	if (err)
		goto fail;
	p->on_event = o->on_event;
	p->ctx = o->ctx;
	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events),
				 on_record, p, NULL);
	if (!p->rb) {
		err = -errno;
		goto fail;
	}
	/* edge-triggered: only a wakeup the BPF side asks for ends a nap,
	 * not the records submitted without one since the last drain */
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0 ||
	    epoll_ctl(p->epfd, EPOLL_CTL_ADD,
		      bpf_map__fd(p->skel->maps.events),
		      &(struct epoll_event){ .events = EPOLLIN | EPOLLET })) {
		err = -errno;
		goto fail;
	}
	if (o->pid > 0) {
		err = probes__track(p, o->pid);
		if (err)
			goto fail;
	}
	if (o->follow || o->cpu_all) {
		err = probes__attach_tracepoints(p);
		if (err)
			goto fail;
	}
	return p;
fail:
	probes__destroy(p);
	errno = err < 0 ? -err : EINVAL;
	return NULL;
}

/* Keep link l (or session link fd) for pid; on failure it is closed. */
static int add_pid_link(struct probes *p, pid_t pid, struct bpf_link *l,
			int fd)
{
	struct plink *nl;

	nl = realloc(p->links, (p->n_links + 1) * sizeof(*nl));
	if (!nl) {
		bpf_link__destroy(l);
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	p->links = nl;
	p->links[p->n_links++] = (struct plink){ .pid = pid, .link = l,
						  .fd = fd };
	return 0;
}

static int add_link(struct probes *p, struct bpf_link *l)
{
	return add_pid_link(p, 0, l, -1);
}

static int attach_one(struct probes *p, struct bpf_program *prog, pid_t pid,
		      const char *path, uint64_t off, uint32_t op, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = ret, .bpf_cookie = op);
	struct bpf_link *l;

	l = bpf_program__attach_uprobe_opts(prog, pid, path, off, &uo);
	if (!l)
		return -errno;
	return add_pid_link(p, pid, l, -1);
}

int probes__track(struct probes *p, pid_t pid)
{
	struct mt_target zero = { 0 };
	uint32_t key = (uint32_t)pid;

	/* NOEXIST: a process the fork tracepoint (or an earlier call) added
	 * keeps the hits it has counted */
	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.targets), &key,
				&zero, BPF_NOEXIST) && errno != EEXIST)
		return -errno;
	return 0;
}

int probes__next_target(struct probes *p, pid_t prev, pid_t *next)
{
	uint32_t key = (uint32_t)prev, nk;

	if (bpf_map_get_next_key(bpf_map__fd(p->skel->maps.targets),
				 prev ? &key : NULL, &nk))
		return -errno;
	*next = (pid_t)nk;
	return 0;
}

/* The sampler's per-CPU call counts, summed. */
static void sampler_sums(struct probes *p, uint64_t *calls, uint64_t *sampled)
{
	struct mt_sampler *sv = calloc(p->nr_cpus, sizeof(*sv));
	uint32_t zero = 0;
	int i;

	*calls = *sampled = 0;
	if (sv && !bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.samplers),
				       &zero, sv)) {
		for (i = 0; i < p->nr_cpus; i++) {
			*calls += sv[i].calls;
			*sampled += sv[i].sampled;
		}
	}
	free(sv);
}

static void counter_sums(struct probes *p, uint64_t cnt[MT_CNT__COUNT]);

/* Counters of the heap path: what an ignored process makes them count is
 * not the session's. The CPU sampler's and the process tree's are. */
static bool heap_counter(uint32_t k)
{
	return k != MT_CNT_CPU_SAMPLES && k != MT_CNT_TARGETS_FULL &&
	       k != MT_CNT_PROC_DROPS;
}

void probes__ignore(struct probes *p, pid_t pid)
{
	uint64_t calls, sampled, cnt[MT_CNT__COUNT];
	uint32_t k;

	/* everything the sampler counted meanwhile was the ignored one's:
	 * its probes are the only ones attached (attach/calibrate.c) */
	sampler_sums(p, &calls, &sampled);
	counter_sums(p, cnt);
	if (p->ignored) {
		p->ign_calls += calls - p->ign_calls0;
		p->ign_sampled += sampled - p->ign_sampled0;
		for (k = 0; k < MT_CNT__COUNT; k++)
			if (heap_counter(k) && cnt[k] >= p->ign_cnt0[k])
				p->ign_cnt[k] += cnt[k] - p->ign_cnt0[k];
	}
	p->ign_calls0 = calls;
	p->ign_sampled0 = sampled;
	memcpy(p->ign_cnt0, cnt, sizeof(cnt));
	p->ignored = pid;
}

int probes__hits(struct probes *p, pid_t pid, uint64_t *hits)
{
	struct mt_target t;
	uint32_t key = (uint32_t)pid;

	*hits = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.targets), &key, &t))
		return -errno;
	*hits = t.hits;
	return 0;
}

void probes__untrack(struct probes *p, pid_t pid)
{
	uint32_t key = (uint32_t)pid;

	bpf_map_delete_elem(bpf_map__fd(p->skel->maps.targets), &key);
}

int probes__attach_tracepoints(struct probes *p)
{
	struct bpf_link *l;
	int err;

	l = bpf_program__attach(p->skel->progs.proc_fork);
	if (!l)
		return -errno;
	err = add_link(p, l);
	if (err)
		return err;
	l = bpf_program__attach(p->skel->progs.proc_exec);
	if (!l)
		return -errno;
	return add_link(p, l);
}

static void plink_close(struct plink *l)
{
	bpf_link__destroy(l->link);
	if (l->fd >= 0)
		close(l->fd);
}

static void *closer_main(void *arg)
{
	struct closer_arg *a = arg;
	struct closer *c = a->c;
	int slot = a->slot;
	struct plink l;
	uint64_t t0;

	free(a);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->n && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->n)
			break;
		/* oldest first: a pause's links before a later one's */
		l = c->queue[0];
		memmove(c->queue, c->queue + 1, --c->n * sizeof(*c->queue));
		c->closing[slot] = l.pid;
		pthread_mutex_unlock(&c->lock);
		t0 = clock__mono_ns();
		plink_close(&l);
		pthread_mutex_lock(&c->lock);
		c->close_ns = (double)(clock__mono_ns() - t0);
		c->closing[slot] = 0;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* The closer's threads, started on first use; false if none runs. */
static bool closer_start(struct closer *c)
{
	struct closer_arg *a;

	if (c->started)
		return true;
	if (pthread_mutex_init(&c->lock, NULL))
		return false;
	if (pthread_cond_init(&c->cond, NULL)) {
		pthread_mutex_destroy(&c->lock);
		return false;
	}
	while (c->started < CLOSER_THREADS) {
		a = malloc(sizeof(*a));
		if (!a)
			break;
		*a = (struct closer_arg){ .c = c, .slot = c->started };
		if (pthread_create(&c->thread[c->started], NULL, closer_main,
				   a)) {
			free(a);
			break;
		}
		c->started++;
	}
	if (c->started)
		return true;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	return false;
}

/* Hand l to the closer; false: close it here. */
static bool closer_put(struct closer *c, const struct plink *l)
{
	struct plink *q;
	bool ok = false;

	if (!closer_start(c))
		return false;
	pthread_mutex_lock(&c->lock);
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;

		q = realloc(c->queue, cap * sizeof(*q));
		if (q) {
			c->queue = q;
			c->cap = cap;
		}
	}
	if (c->n < c->cap) {
		c->queue[c->n++] = *l;
		pthread_cond_broadcast(&c->cond);
		ok = true;
	}
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static void closer_stop(struct closer *c)
{
	int i;

	if (!c->started)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->started; i++)
		pthread_join(c->thread[i], NULL);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c->queue);
	c->started = 0;
}

/* pid's links go, closed here or (later) by the closer. */
static void detach(struct probes *p, pid_t pid, bool later)
{
	uint32_t tgid = (uint32_t)pid;
	size_t i, kept = 0;

	/* an allocator's sampled path, if it was probed (a pid reused
	 * later must not inherit it) */
	if (pid)
		bpf_map_delete_elem(bpf_map__fd(p->skel->maps.alloc_samplers),
				    &tgid);

	for (i = 0; i < p->n_links; i++) {
		struct plink *l = &p->links[i];

		if (l->pid != pid || !pid)
			p->links[kept++] = *l;
		else if (!later || !closer_put(&p->closer, l))
			plink_close(l);
	}
	p->n_links = kept;
}

void probes__detach_pid(struct probes *p, pid_t pid)
{
	detach(p, pid, false);
}

void probes__detach_pid_later(struct probes *p, pid_t pid)
{
	detach(p, pid, true);
}

/* pid has a link queued or being closed (lock held). */
static bool closer_holds(const struct closer *c, pid_t pid)
{
	size_t i;

	for (i = 0; i < CLOSER_THREADS; i++)
		if (c->closing[i] == pid)
			return true;
	for (i = 0; i < c->n; i++)
		if (c->queue[i].pid == pid)
			return true;
	return false;
}

bool probes__closing(struct probes *p, pid_t pid)
{
	struct closer *c = &p->closer;
	bool held;

	if (!c->started || !pid)
		return false;
	pthread_mutex_lock(&c->lock);
	held = closer_holds(c, pid);
	pthread_mutex_unlock(&c->lock);
	return held;
}

double probes__close_ns(struct probes *p)
{
	struct closer *c = &p->closer;
	double v;

	if (!c->started)
		return 0;
	pthread_mutex_lock(&c->lock);
	v = c->close_ns;
	pthread_mutex_unlock(&c->lock);
	return v;
}

void probes__settle(struct probes *p, pid_t pid)
{
	struct closer *c = &p->closer;

	if (!c->started || !pid)
		return;
	pthread_mutex_lock(&c->lock);
	while (closer_holds(c, pid))
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

bool probes__linked(const struct probes *p, pid_t pid)
{
	size_t i;

	for (i = 0; pid && i < p->n_links; i++)
		if (p->links[i].pid == pid)
			return true;
	return false;
}

/* A process's allocation functions as one session link, its frees as one
 * plain uprobe_multi link (bpf/memtel.bpf.c says why two). The probe
 * points attached, or -errno. */
static int attach_session(struct probes *p, pid_t pid, const char *path,
			  const struct probe_point *pts, size_t n)
{
	uint64_t offs[2][MT_OP__COUNT], cookies[2][MT_OP__COUNT];
	size_t i, cnt[2] = { 0, 0 };
	int fd, k, total = 0;

	for (i = 0; i < n; i++) {
		k = pts[i].frees ? 1 : 0;
		if (pts[i].alias || cnt[k] >= MT_OP__COUNT)
			continue;
		offs[k][cnt[k]] = pts[i].func_offset + pts[i].plan.offset;
		cookies[k][cnt[k]] = pts[i].op;
		cnt[k]++;
	}
	for (k = 0; k < 2; k++) {
		if (!cnt[k])
			continue;
		fd = k ? uprobe_multi_compat__attach(p->skel->progs.free_multi,
						     pid, path, offs[k],
						     cookies[k], cnt[k]) :
			 uprobe_multi_compat__attach_session(
				 p->skel->progs.alloc_session, pid, path,
				 offs[k], cookies[k], cnt[k]);
		if (fd < 0)
			return fd;
		fd = add_pid_link(p, pid, NULL, fd);
		if (fd)
			return fd;
		total += (int)cnt[k];
	}
	return total;
}

bool probes__session(const struct probes *p)
{
	return p->session;
}

int probes__attach(struct probes *p, const struct allocator *a,
		   const struct probe_point *pts, size_t n)
{
	return probes__attach_pid(p, p->pid, a, pts, n);
}

int probes__attach_pid(struct probes *p, pid_t pid, const struct allocator *a,
		       const struct probe_point *pts, size_t n)
{
	int attached = 0, err;
	size_t i;

	if (p->session) {
		err = attach_session(p, pid, a->open_path, pts, n);
		if (err < 0)
			return err;
		attached = err;
	}
	for (i = 0; i < n; i++) {
		const struct probe_point *pt = &pts[i];
		uint64_t off = pt->func_offset + pt->plan.offset;

		if (pt->alias)
			continue;
		mt_debug("probe %s at %s+0x%llx (+%llu: %s%s; %s)", pt->func,
			 a->path, (unsigned long long)pt->func_offset,
			 (unsigned long long)pt->plan.offset, pt->plan.insn,
			 pt->plan.emulated ? ", emulated" : ", single-stepped",
			 pt->plan.why);
		if (p->session) {
			continue;	/* in the session's links */
		} else if (pt->frees) {
			err = attach_one(p, p->skel->progs.free_enter, pid,
					 a->open_path, off, pt->op, false);
		} else {
			err = attach_one(p, p->skel->progs.alloc_enter, pid,
					 a->open_path, off, pt->op, false);
			if (!err && pt->has_ret)
				err = attach_one(p, p->skel->progs.alloc_ret,
						 pid, a->open_path, off, pt->op,
						 true);
		}
		if (err)
			return err;
		attached++;
	}
	return attached;
}

/* The Go runtime's sampled heap (attach/golang.c): register the process
 * in go_procs (the programs ignore every other), then one uprobe on each
 * hook. */
int probes__attach_go(struct probes *p, pid_t pid, const struct golang *g)
{
	struct mt_go_proc gp = { g->rate_addr, g->cgo_ret };
	uint32_t tgid = (uint32_t)pid;
	int err;

	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.go_procs), &tgid,
				&gp, BPF_ANY))
		return -errno;
	mt_debug("probe runtime.mProf_Malloc at %s+0x%llx (%s, %s)", g->path,
		 (unsigned long long)g->malloc.offset, g->malloc.why,
		 g->malloc.emulated ? "emulated" : "single-stepped");
	mt_debug("probe runtime.freeSpecial at %s+0x%llx (%s, %s)", g->path,
		 (unsigned long long)g->free.offset, g->free.why,
		 g->free.emulated ? "emulated" : "single-stepped");
	err = attach_one(p, p->skel->progs.go_malloc, pid, g->open_path,
			 g->malloc.offset, MT_OP_GO_MALLOC, false);
	if (!err)
		err = attach_one(p, p->skel->progs.go_free, pid, g->open_path,
				 g->free.offset, MT_OP_GO_FREE, false);
	return err ? err : 2;
}

/* An allocator's own sampled path (attach/allocsample.c): register the
 * process in alloc_samplers (the programs ignore every other), then one
 * uprobe on each call site. */
int probes__attach_allocsample(struct probes *p, pid_t pid,
			       const struct allocsample *s)
{
	struct mt_alloc_sampler_proc sp = {
		.period_addr = s->period_addr, .period = s->period,
		.page_shift = s->page_shift,
	};
	uint32_t tgid = (uint32_t)pid;
	int err = 0, n = 0;
	size_t i;

	if (s->state != ALLOCSAMPLE_HOOKED || !s->n_alloc || !s->n_free)
		return -EINVAL;
	if (bpf_map_update_elem(bpf_map__fd(p->skel->maps.alloc_samplers),
				&tgid, &sp, BPF_ANY))
		return -errno;
	mt_debug("sampled path of %s: %s", s->path, s->why);
	for (i = 0; !err && i < s->n_alloc; i++, n++)
		err = attach_one(p, p->skel->progs.tc_sampled_alloc, pid,
				 s->open_path, s->alloc_off[i],
				 MT_OP_ALLOC_SAMPLED, false);
	for (i = 0; !err && i < s->n_free; i++, n++)
		err = attach_one(p, p->skel->progs.tc_sampled_free, pid,
				 s->open_path, s->free_off[i], MT_OP_FREE,
				 false);
	if (err)	/* links already made go inert without the entry */
		bpf_map_delete_elem(bpf_map__fd(p->skel->maps.alloc_samplers),
				    &tgid);
	return err ? err : n;
}

/* Parse a CPU list such as "0-3,5" into a bitmap; returns the count. */
static int online_cpus(bool *online, int max)
{
	char buf[1024], *s, *end;
	int n = 0, a, b, i;
	FILE *f;

	f = fopen("/sys/devices/system/cpu/online", "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	for (s = buf; *s && *s != '\n';) {
		a = (int)strtol(s, &end, 10);
		if (end == s)
			return -EINVAL;
		b = a;
		s = end;
		if (*s == '-') {
			b = (int)strtol(s + 1, &end, 10);
			s = end;
		}
		for (i = a; i <= b && i < max; i++, n++)
			online[i] = true;
		if (*s == ',')
			s++;
	}
	return n;
}

static int perf_open(uint32_t type, uint64_t config, uint32_t freq, int cpu)
{
	struct perf_event_attr attr = {
		.type = type,
		.size = sizeof(attr),
		.config = config,
		.freq = 1,
		.sample_freq = freq,
	};

	return (int)syscall(__NR_perf_event_open, &attr, -1, cpu, -1,
			    PERF_FLAG_FD_CLOEXEC);
}

int probes__attach_cpu(struct probes *p, uint32_t freq, const char **event)
{
	bool *online, hw = true;
	int cpu, n = 0, fd, err;
	struct bpf_link *l;

	online = calloc(p->nr_cpus, sizeof(*online));
	if (!online)
		return -ENOMEM;
	err = online_cpus(online, p->nr_cpus);
	if (err < 0)
		goto cleanup;
	*event = "cycles";
	for (cpu = 0; cpu < p->nr_cpus; cpu++) {
		if (!online[cpu])
			continue;	/* offline CPUs cannot take events */
		fd = hw ? perf_open(PERF_TYPE_HARDWARE,
				    PERF_COUNT_HW_CPU_CYCLES, freq, cpu) : -1;
		if (fd < 0) {
			/* no PMU (most VMs): the hrtimer-driven clock */
			hw = false;
			*event = "cpu-clock";
			fd = perf_open(PERF_TYPE_SOFTWARE,
				       PERF_COUNT_SW_CPU_CLOCK, freq, cpu);
		}
		if (fd < 0) {
			err = -errno;
			goto cleanup;
		}
		l = bpf_program__attach_perf_event(p->skel->progs.cpu_sample,
						   fd);
		if (!l) {
			err = -errno;
			close(fd);
			goto cleanup;
		}
		err = add_link(p, l);
		if (err)
			goto cleanup;
		n++;
	}
	err = n;
cleanup:
	free(online);
	return err;
}

int probes__drain(struct probes *p)
{
	int n;

	p->budget = PROBES_DRAIN_MAX;
	p->deadline = clock__mono_ns() + PROBES_DRAIN_NS;
	n = ring_buffer__consume(p->rb);
	/* cut short: say "full" so that the caller comes back at once */
	return n == PROBES_DRAIN_FULL ? PROBES_DRAIN_MAX : n;
}

int probes__drain_until(struct probes *p, uint64_t deadline_ns)
{
	int n, total = 0;

	do {
		n = probes__drain(p);
		if (n < 0)
			return n;
		total += n;
	} while (n == PROBES_DRAIN_MAX && clock__mono_ns() < deadline_ns);
	return total;
}

int probes__drain_all(struct probes *p)
{
	return probes__drain_until(p, UINT64_MAX);
}

bool probes__nap(struct probes *p, long ns)
{
	struct epoll_event ev;
	int ms = (int)((ns + 999999) / 1000000);

	return epoll_wait(p->epfd, &ev, 1, ms) > 0;
}

/* The per-CPU counters, summed. */
static void counter_sums(struct probes *p, uint64_t cnt[MT_CNT__COUNT])
{
	uint64_t *v = calloc(p->nr_cpus, sizeof(*v));
	uint32_t k;
	int i;

	memset(cnt, 0, MT_CNT__COUNT * sizeof(*cnt));
	for (k = 0; v && k < MT_CNT__COUNT; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.counters),
					&k, v))
			continue;
		for (i = 0; i < p->nr_cpus; i++)
			cnt[k] += v[i];
	}
	free(v);
}

void probes__counters(struct probes *p, uint64_t cnt[MT_CNT__COUNT],
		      uint64_t *calls, uint64_t *sampled)
{
	uint32_t k;

	counter_sums(p, cnt);
	for (k = 0; k < MT_CNT__COUNT; k++)
		cnt[k] -= cnt[k] >= p->ign_cnt[k] ? p->ign_cnt[k] : cnt[k];
	/* without the calls of processes ignored (the calibration child) */
	sampler_sums(p, calls, sampled);
	*calls -= *calls >= p->ign_calls ? p->ign_calls : *calls;
	*sampled -= *sampled >= p->ign_sampled ? p->ign_sampled : *sampled;
}

void probes__destroy(struct probes *p)
{
	size_t i;

	if (!p)
		return;
	/* what it still holds is closed before the programs go */
	closer_stop(&p->closer);
	ring_buffer__free(p->rb);
	if (p->epfd >= 0)
		close(p->epfd);
	for (i = 0; i < p->n_links; i++)
		plink_close(&p->links[i]);
	free(p->links);
	memtel_bpf__destroy(p->skel);
	free(p);
}

/* For attach/usdt.c: the otel_memory program for `name` ("alloc" or
 * "free") on every such site in path, for pid only. */
int probes__attach_usdt(struct probes *p, pid_t pid, const char *path,
			const char *provider, const char *name)
{
	struct bpf_program *prog = strcmp(name, "free") ?
				   p->skel->progs.usdt_alloc :
				   p->skel->progs.usdt_free;
	struct bpf_link *l;

	l = bpf_program__attach_usdt(prog, pid, path, provider, name, NULL);
	if (!l)
		return -errno;
	/* the pid's own: detached with it (a child's, at its exit) */
	return add_pid_link(p, pid, l, -1);
}
