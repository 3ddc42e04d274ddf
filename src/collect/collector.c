// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * collector.c - ring-buffer records to aggregator calls.
 *
 * A sampled allocation arrives as ENTER (registers + stack copy) then RET
 * (address) from the same thread; the ENTER is unwound at once, while the
 * target still has the same modules mapped, and its stack id waits in
 * `pending` for the RET. The allocator's own frame is dropped: a heap
 * sample's leaf is the function that called the allocator.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect/collector.h"
#include "memtel_usdt.h"
#include "memtel_allocsample.h"
#include "util/clock.h"
#include "util/log.h"
#include "model/sampling.h"
#include "util/hash.h"
#include "util/table.h"
#include "util/u64map.h"
#include "unwind/unwind.h"

/* Stack keys of BPF-unwound stacks already interned. Bounded: past
 * STACK_KEYS_MAX entries it starts again (a miss only costs one lookup in
 * the kernel's map). */
#define STACK_KEYS_MAX (1U << 20)

struct stack_key_ent {
	uint64_t hash;
	uint32_t tgid;
	uint32_t id;
};

struct stack_keys {
	struct table index;
	struct stack_key_ent *v;
	size_t n, cap;
};

static uint64_t key_hash(uint32_t tgid, uint64_t hash)
{
	return hash__u64(hash, tgid);
}

struct key_lookup {
	const struct stack_keys *sk;
	uint32_t tgid;
	uint64_t hash;
};

static bool key_eq(const void *ctx, size_t idx)
{
	const struct key_lookup *l = ctx;

	return l->sk->v[idx].tgid == l->tgid && l->sk->v[idx].hash == l->hash;
}

static void stack_keys_free(struct stack_keys *sk)
{
	if (!sk)
		return;
	table__free(&sk->index);
	free(sk->v);
	free(sk);
}

int collector__init(struct collector *c, struct targets *tg,
		    struct stacks *s, struct heapstate *h, struct cpustate *cpu,
		    struct symcache *syms)
{
	memset(c, 0, sizeof(*c));
	c->targets = tg;
	c->stacks = s;
	c->heap = h;
	c->cpu = cpu;
	c->syms = syms;
	c->pending = calloc(1, sizeof(struct u64map));
	return c->pending ? 0 : -ENOMEM;
}

static void free_components(struct collector *c)
{
	uint64_t k, v;
	size_t it = 0;

	if (!c->components)
		return;
	while (u64map__next(c->components, &it, &k, &v))
		free((void *)(uintptr_t)v);
	u64map__free(c->components);
	free(c->components);
	c->components = NULL;
}

void collector__set_heap_stacks(struct collector *c, struct stacks *st,
				struct symcache *sc)
{
	free_components(c);
	u64map__free(c->pending);
	/* BPF stack keys name ids of the old table too */
	stack_keys_free(c->stack_keys);
	c->stack_keys = NULL;
	c->heap_stacks = st;
	c->heap_syms = sc;
}

/* Where heap stacks are interned and named. */
static struct stacks *heap_stacks(const struct collector *c)
{
	return c->heap_stacks ? c->heap_stacks : c->stacks;
}

static struct symcache *heap_syms(const struct collector *c)
{
	return c->heap_stacks ? c->heap_syms : c->syms;
}

/* The heap model and memmetrics of pid's records; false: none (the
 * record is not one of a heap target's). */
static bool heap_for(struct collector *c, uint32_t pid, struct heapstate **h,
		     struct memmetrics **mm)
{
	if (c->heap_of)
		return c->heap_of(c->heap_ctx, pid, h, mm) && *h;
	*h = c->heap;
	*mm = c->mm;
	return *h != NULL;
}

void collector__fini(struct collector *c)
{
	uint64_t k, v;
	size_t it = 0;

	if (!c)
		return;
	free_components(c);
	u64map__free(c->pending);
	free(c->pending);
	c->pending = NULL;
	stack_keys_free(c->stack_keys);
	c->stack_keys = NULL;
	u64map__free(c->go_pids);
	free(c->go_pids);
	c->go_pids = NULL;
	u64map__free(c->tables_wait);
	free(c->tables_wait);
	c->tables_wait = NULL;
	if (c->cgo_stacks) {
		it = 0;
		while (u64map__next(c->cgo_stacks, &it, &k, &v))
			free((void *)(uintptr_t)v);
		u64map__free(c->cgo_stacks);
		free(c->cgo_stacks);
		c->cgo_stacks = NULL;
	}
}

/* pid's image now (targets__image): stacks and symbols are of it. */
static uint32_t image_of(const struct collector *c, uint32_t pid)
{
	return c->targets ? targets__image(c->targets, (pid_t)pid) : 0;
}

/* Intern a stack of pid's current image; a stack seen for the first time
 * is symbolized now, while its process still has the same modules
 * mapped. */
static uint32_t intern(const struct collector *c, struct stacks *st,
		       struct symcache *sc, uint32_t pid, const uint64_t *pcs,
		       uint32_t n, bool leaf_exact)
{
	size_t before = stacks__count(st);
	struct stack_view v;
	uint32_t id;

	id = stacks__intern(st, pid, image_of(c, pid), pcs, n, leaf_exact);
	if (id && stacks__count(st) != before && sc &&
	    stacks__get(st, id, &v))
		symcache__prime(sc, &v);
	return id;
}

/* Unwind a user stack of pid; re-reads the maps once when the pc to check
 * or the outermost one lies outside every known module (a library
 * dlopen'ed since, or mapped by the loader after the process was opened:
 * the walk stopped there). */
static int user_stack(struct collector *c, uint32_t pid, uint32_t tid,
		      const uint64_t *regs, const uint8_t *stack,
		      size_t stack_len, int ret_at_sp,
		      const struct unwind_fixups *fix, uint64_t *pcs,
		      size_t max, struct target **tp)
{
	struct target *t = targets__get(c->targets, (pid_t)pid);
	uint64_t check;
	int n;

	*tp = t;
	if (!t) {
		pcs[0] = regs[MT_REG_RIP];
		if (ret_at_sp && stack_len >= 8 && max > 1) {
			memcpy(&pcs[1], stack, sizeof(pcs[1]));
			return 2;
		}
		return 1;
	}
	n = unwind__user_fixed(t, tid, regs, stack, stack_len, ret_at_sp, fix,
			       pcs, max);
	check = ret_at_sp && n >= 2 ? pcs[1] : pcs[0];
	if (n > 0 && target__covers(t, check))
		check = pcs[n - 1];
	if (n > 0 && !target__covers(t, check) &&
	    target__refresh(t, false) == 0 && target__covers(t, check))
		n = unwind__user_fixed(t, tid, regs, stack, stack_len,
				       ret_at_sp, fix, pcs, max);
	return n;
}

/* Outermost function name at pcs[i] (a return address unless i == 0). */
static const char *go_func(struct collector *c, uint32_t pid,
			   const uint64_t *pcs, size_t i)
{
	const struct sym_result *r = symcache__get(c->syms, pid, image_of(c, pid),
						   pcs[i], i > 0);

	return r->n_frames ? r->frames[r->n_frames - 1].function : NULL;
}

int collector__add_go(struct collector *c, uint32_t pid)
{
	if (!c->go_pids) {
		c->go_pids = calloc(1, sizeof(struct u64map));
		if (!c->go_pids)
			return -ENOMEM;
	}
	return u64map__set(c->go_pids, pid, 1);
}

/* In a Go program, C code called through cgo runs on the system stack:
 * runtime.asmcgocall switched to it, so CFI past asmcgocall reads the
 * wrong stack and yields garbage frames. End a user stack there. */
static int cut_at_cgo(struct collector *c, uint32_t pid, const uint64_t *pcs,
		      int n, bool *cut)
{
	const char *fn;
	int i;

	*cut = false;
	if (!c->go_pids || !c->syms || !u64map__get(c->go_pids, pid))
		return n;
	for (i = 0; i < n; i++) {
		fn = go_func(c, pid, pcs, (size_t)i);
		if (fn && !strncmp(fn, "runtime.asmcgocall", 18)) {
			*cut = true;
			return i + 1;
		}
	}
	return n;
}

/* Keep a goroutine stack sent ahead of the ENTER of the same thread. */
static void on_cgo_stack(struct collector *c, const struct mt_go_cgo_stack *e,
			 size_t size)
{
	size_t need = offsetof(struct mt_go_cgo_stack, stack) + e->stack_len;
	uint64_t old;
	void *copy;

	if (e->stack_len > MT_MAX_STACK_BYTES || size < need) {
		c->errors++;
		return;
	}
	if (!c->cgo_stacks) {
		c->cgo_stacks = calloc(1, sizeof(struct u64map));
		if (!c->cgo_stacks) {
			c->errors++;
			return;
		}
	}
	copy = malloc(need);
	if (!copy) {
		c->errors++;
		return;
	}
	memcpy(copy, e, need);
	if (u64map__del(c->cgo_stacks, e->hdr.tid, &old))
		free((void *)(uintptr_t)old);
	if (u64map__set(c->cgo_stacks, e->hdr.tid, (uintptr_t)copy)) {
		free(copy);
		c->errors++;
	}
}

/* pcs[0..n) ends at runtime.asmcgocall (cut_at_cgo) and the thread's
 * goroutine stack came with the sample: walk on from the goroutine's
 * saved stack pointer, where [sp] returns into runtime.cgocall. */
static int cgo_continue(struct collector *c, struct target *t, uint32_t tid,
			uint64_t *pcs, int n, size_t max, bool at_cgo)
{
	uint64_t id, regs[MT_NREGS] = { 0 };
	struct mt_go_cgo_stack *g;
	int m;

	if (!c->cgo_stacks || !u64map__del(c->cgo_stacks, tid, &id))
		return n;
	g = (struct mt_go_cgo_stack *)(uintptr_t)id;
	if (at_cgo && t && n > 0 && (size_t)n < max && g->stack_len >= 16) {
		memcpy(&regs[MT_REG_RIP], g->stack, sizeof(regs[0]));
		regs[MT_REG_RSP] = g->sp + 8;
		m = unwind__user(t, (pid_t)tid, regs, g->stack + 8,
				 g->stack_len - 8, 0, pcs + n, max - (size_t)n);
		if (m > 0)
			n += m;
	}
	free(g);
	return n;
}

static void on_cpu(struct collector *c, const struct mt_cpu_sample *e,
		   size_t size)
{
	uint64_t pcs[COLLECTOR_MAX_FRAMES + MT_MAX_KSTACK];
	size_t stack_len = e->stack_len, nk = e->nr_kstack, n = 0;
	char comm[MT_COMM_LEN + 1];
	struct target *t;
	uint32_t id;
	bool at_cgo;
	int nu;

	if (!c->cpu)
		return;
	if (size < offsetof(struct mt_cpu_sample, stack) ||
	    stack_len > size - offsetof(struct mt_cpu_sample, stack) ||
	    nk > MT_MAX_KSTACK) {
		c->errors++;
		return;
	}
	memcpy(pcs, e->kstack, nk * sizeof(pcs[0]));
	n = nk;
	if (e->user) {
		struct unwind_fixups fix = {
			.slot = (const uint64_t *)e->uret_slot,
			.orig = (const uint64_t *)e->uret_orig,
			.n = e->nr_uret < MT_MAX_URET ? e->nr_uret : MT_MAX_URET,
		};

		nu = user_stack(c, e->hdr.pid, e->hdr.tid,
				(const uint64_t *)e->regs, e->stack, stack_len,
				0, &fix, pcs + n, COLLECTOR_MAX_FRAMES, &t);
		nu = cut_at_cgo(c, e->hdr.pid, pcs + n, nu, &at_cgo);
		if (nu > 0)
			n += (size_t)nu;
	}
	if (!n)
		return;
	id = intern(c, c->stacks, c->syms, e->hdr.pid, pcs, (uint32_t)n, true);
	memcpy(comm, e->comm, MT_COMM_LEN);
	comm[MT_COMM_LEN] = '\0';
	if (!id || cpustate__add(c->cpu, id, e->hdr.pid, e->hdr.tid, comm))
		c->errors++;
}

/* Frames of the Go runtime's allocation path at the leaf of a Go heap
 * sample (runtime.mProf_Malloc, mallocgc, newobject...): how many to drop
 * so the leaf is the Go function that allocated. The runtime's own
 * allocations (all frames runtime.*) lose only the sampling hook's three
 * frames, so their leaf names what allocated (runtime.malg...), as in Go's
 * own heap profile. pcs[0] is the probe, the others return addresses. */
static size_t go_runtime_frames(struct collector *c, uint32_t pid,
				const uint64_t *pcs, size_t n)
{
	static const char *const hook[] = {
		"runtime.mProf_Malloc", "runtime.profilealloc",
		"runtime.mallocgc",
	};
	const char *fn;
	size_t i;

	if (!c->syms)
		return n > 1 ? 1 : 0;
	for (i = 0; i < n; i++) {
		fn = go_func(c, pid, pcs, i);
		if (!fn || strncmp(fn, "runtime.", 8))
			return i;
	}
	for (i = 0; i + 1 < n && i < sizeof(hook) / sizeof(hook[0]); i++) {
		fn = go_func(c, pid, pcs, i);
		if (!fn || strcmp(fn, hook[i]))
			break;
	}
	return i;
}

/* Frames at the leaf of a sample taken inside the allocator (its sampled
 * path): every leading pc in the module of pcs[0], so the leaf is the
 * allocator's caller. All of them if nothing else is known. */
static size_t allocator_frames(struct target *t, const uint64_t *pcs,
			       size_t n)
{
	struct target_loc leaf, l;
	size_t i;

	if (!t || target__locate(t, pcs[0], &leaf))
		return n > 1 ? 1 : 0;
	for (i = 1; i < n; i++)
		if (target__locate(t, pcs[i] - 1, &l) ||
		    l.mod_start != leaf.mod_start)
			break;
	return i < n ? i : n - 1;
}

/* Go programs keep their windows: cgo's stacks need them. */
static bool wants_tables(const struct collector *c, uint32_t pid)
{
	return c->bu && !(c->go_pids && u64map__get(c->go_pids, pid));
}

static void sync_tables(struct collector *c, uint32_t pid, struct target *t)
{
	if (!t || !wants_tables(c, pid))
		return;
	if (c->defer_tables) {
		uint64_t *w;

		if (!c->tables_wait) {
			c->tables_wait = calloc(1, sizeof(struct u64map));
			if (!c->tables_wait)
				return;
		}
		w = u64map__get(c->tables_wait, pid);
		if (!w) {
			/* its first tables wait for collector__sync_deferred
			 * (the value: since when, | 1; 0 once given) */
			(void)u64map__set(c->tables_wait, pid,
					  clock__mono_ns() | 1);
			return;
		}
		if (*w)
			return;		/* still waiting */
	}
	(void)bpfunwind__sync(c->bu, t);
}

void collector__prepare(struct collector *c, uint32_t pid)
{
	if (pid && wants_tables(c, pid)) {
		struct target *t = targets__get(c->targets, (pid_t)pid);

		/* before its probes: nothing to wait for */
		if (c->tables_wait)
			(void)u64map__set(c->tables_wait, pid, 0);
		if (t)
			(void)bpfunwind__sync(c->bu, t);
	}
}

bool collector__sync_deferred(struct collector *c,
			      bool (*ready)(void *ctx, uint32_t pid,
					    uint64_t waiting_ns),
			      void *ctx)
{
	uint64_t pid, since, now = clock__mono_ns();
	struct target *t;
	size_t it = 0;

	if (!c->tables_wait)
		return false;
	while (u64map__next(c->tables_wait, &it, &pid, &since)) {
		if (!since || !ready(ctx, (uint32_t)pid, now - (since & ~1ULL)))
			continue;
		t = targets__get(c->targets, (pid_t)pid);
		if (!t) {
			u64map__del(c->tables_wait, pid, NULL);
			continue;
		}
		(void)u64map__set(c->tables_wait, pid, 0);
		(void)bpfunwind__sync(c->bu, t);
		return true;	/* one a call: a big file takes a while */
	}
	return false;
}

/* pid exited or exec'd: its first tables are to come again. */
static void tables_forget(struct collector *c, uint32_t pid)
{
	if (c->tables_wait)
		u64map__del(c->tables_wait, pid, NULL);
}

static void on_enter(struct collector *c, const struct mt_alloc_enter *e,
		     size_t size)
{
	size_t drop;
	uint64_t pcs[COLLECTOR_MAX_FRAMES];
	size_t stack_len = e->stack_len;
	struct target *t;
	uint32_t id;
	bool at_cgo;
	int n;

	if (size < offsetof(struct mt_alloc_enter, stack) ||
	    stack_len > size - offsetof(struct mt_alloc_enter, stack)) {
		c->errors++;
		return;
	}
	/* an otel_memory:alloc site, or a call on an allocator's sampled
	 * path, is mid-function, not an entry */
	n = user_stack(c, e->hdr.pid, e->hdr.tid, (const uint64_t *)e->regs,
		       e->stack, stack_len, e->hdr.op != MT_OP_USDT &&
		       e->hdr.op != MT_OP_ALLOC_SAMPLED, NULL, pcs,
		       COLLECTOR_MAX_FRAMES, &t);
	n = cut_at_cgo(c, e->hdr.pid, pcs, n, &at_cgo);
	n = cgo_continue(c, t, e->hdr.tid, pcs, n, COLLECTOR_MAX_FRAMES,
			 at_cgo);
	/* a window came: give the process its tables, or update them (a
	 * library mapped since) */
	if (e->hdr.op < MT_OP__COUNT)
		sync_tables(c, e->hdr.pid, t);
	if (n <= 2)
		c->unwind_short++;
	/* drop the allocator's own frame (the Go runtime's whole path) */
	drop = n > 1 ? 1 : 0;
	if (e->hdr.op == MT_OP_GO_MALLOC && n > 0)
		drop = go_runtime_frames(c, e->hdr.pid, pcs, (size_t)n);
	if (e->hdr.op == MT_OP_ALLOC_SAMPLED && n > 0)
		drop = allocator_frames(t, pcs, (size_t)n);
	id = intern(c, heap_stacks(c), heap_syms(c), e->hdr.pid, pcs + drop,
		    (uint32_t)(n - (int)drop), drop == 0);
	if (!id) {
		c->errors++;
		return;
	}
	if (u64map__set(c->pending, e->hdr.tid, id))
		c->errors++;
}

/* The stack id of a sampled call whose stack BPF unwound: its pcs are in
 * the kernel's ustacks map under e->key, read once per distinct stack. 0
 * if it cannot be had (counted). */
static uint32_t stack_of_key(struct collector *c,
			     const struct mt_alloc_stack_ret *e)
{
	struct stack_keys *sk = c->stack_keys;
	uint64_t pcs[COLLECTOR_MAX_FRAMES];
	struct key_lookup l;
	uint32_t id = 0;
	int64_t idx;
	size_t drop;
	int n;

	c->bpf_stacks++;
	if (!sk) {
		sk = c->stack_keys = calloc(1, sizeof(*sk));
		if (!sk) {
			c->errors++;
			return 0;
		}
	}
	l.sk = sk;
	l.tgid = e->key.tgid;
	l.hash = e->key.hash;
	idx = e->key.tgid == e->hdr.pid ?
	      table__find(&sk->index, key_hash(l.tgid, l.hash), key_eq, &l) :
	      -1;
	if (idx >= 0)
		return sk->v[idx].id;
	n = c->bu && e->key.tgid == e->hdr.pid ?
	    bpfunwind__stack(c->bu, &e->key, pcs, COLLECTOR_MAX_FRAMES) :
	    -ENOENT;
	if (n <= 0) {
		c->bpf_stack_lost++;
		return 0;
	}
	if (n <= 2)
		c->unwind_short++;
	drop = n > 1 ? 1 : 0;
	id = intern(c, heap_stacks(c), heap_syms(c), e->hdr.pid, pcs + drop,
		    (uint32_t)(n - (int)drop), drop == 0);
	if (!id) {
		c->errors++;
		return 0;
	}
	if (sk->n >= STACK_KEYS_MAX) {
		table__clear(&sk->index);
		sk->n = 0;
	}
	if (sk->n == sk->cap) {
		size_t cap = sk->cap ? sk->cap * 2 : 1024;
		struct stack_key_ent *nv = realloc(sk->v, cap * sizeof(*nv));

		if (!nv)
			return id;
		sk->v = nv;
		sk->cap = cap;
	}
	sk->v[sk->n].hash = l.hash;
	sk->v[sk->n].tgid = l.tgid;
	sk->v[sk->n].id = id;
	if (!table__add(&sk->index, key_hash(l.tgid, l.hash), sk->n))
		sk->n++;
	return id;
}

/* An exited process's keys go: a reused pid's stacks are its own. */
static void forget_keys(void *ctx, uint32_t pid)
{
	struct stack_keys *sk = ctx;
	size_t i, j = 0;

	table__clear(&sk->index);
	for (i = 0; i < sk->n; i++) {
		if (sk->v[i].tgid == pid)
			continue;
		sk->v[j] = sk->v[i];
		if (table__add(&sk->index,
			       key_hash(sk->v[j].tgid, sk->v[j].hash), j))
			break;
		j++;
	}
	sk->n = j;
}

/* bpfunwind__reap's callback: pid's stack keys and table state. */
static void reaped(void *ctx, uint32_t pid)
{
	struct collector *c = ctx;

	if (c->stack_keys)
		forget_keys(c->stack_keys, pid);
	tables_forget(c, pid);
}

void collector__reap(struct collector *c)
{
	if (!c->bu)
		return;
	bpfunwind__reap(c->bu, reaped, c);
	/* ones that exited before their tables came */
	if (c->tables_wait) {
		uint64_t pid, v;
		size_t it = 0;

		while (u64map__next(c->tables_wait, &it, &pid, &v))
			if (!targets__get(c->targets, (pid_t)pid))
				u64map__del(c->tables_wait, pid, NULL);
	}
}

/* The allocating function of a heap stack (its leaf frame), cached. */
static const char *component(struct collector *c, uint32_t id)
{
	const struct sym_result *r;
	struct stack_view v;
	uint64_t *hit;
	char *name;

	if (!c->components) {
		c->components = calloc(1, sizeof(struct u64map));
		if (!c->components)
			return "unknown";
	}
	hit = u64map__get(c->components, id);
	if (hit)
		return (const char *)(uintptr_t)*hit;
	if (!stacks__get(heap_stacks(c), id, &v) || !v.n || !heap_syms(c))
		return "unknown";
	r = symcache__get(heap_syms(c), v.pid, v.image, v.pcs[0],
			  !v.leaf_exact);
	if (r->n_frames && r->frames[0].function)
		name = strdup(r->frames[0].function);
	else if (asprintf(&name, "0x%llx", (unsigned long long)v.pcs[0]) < 0)
		name = NULL;
	if (!name || u64map__set(c->components, id, (uintptr_t)name)) {
		free(name);
		return "unknown";
	}
	return name;
}

/* A sampled call returned addr (0: it failed) with stack id. */
static void add_sampled(struct collector *c, const struct mt_event_hdr *hdr,
			uint64_t addr, uint64_t size, uint32_t id)
{
	struct memmetrics *mm;
	struct heapstate *h;

	/* a failed call allocated nothing; a process that is no heap
	 * target (any more) has no model */
	if (!addr || !heap_for(c, hdr->pid, &h, &mm))
		return;
	if (heapstate__alloc(h, hdr->pid, addr, id, size, hdr->op,
			     hdr->ktime_ns))
		c->errors++;
	if (mm &&
	    memmetrics__on_alloc(mm, component(c, id),
				 c->op_name ? c->op_name(hdr->op) : "?",
				 size,
				 sampling__scale(size, c->sample_mean) *
				 heapstate__scale(h, hdr->pid)))
		c->errors++;
}

static void on_ret(struct collector *c, const struct mt_alloc_ret *e)
{
	uint64_t id;

	if (!u64map__del(c->pending, e->hdr.tid, &id)) {
		c->orphans++;
		return;
	}
	add_sampled(c, &e->hdr, e->addr, e->size, (uint32_t)id);
}

/* One record for a call BPF unwound; a stack that cannot be had makes it
 * an orphan, as a RET without its ENTER. */
static void on_stack_ret(struct collector *c,
			 const struct mt_alloc_stack_ret *e)
{
	uint32_t id = stack_of_key(c, e);

	if (!id) {
		c->orphans++;
		return;
	}
	add_sampled(c, &e->hdr, e->addr, e->size, id);
}

/* A Go allocation sampled by the Go runtime: it stands for
 * 1 / (1 - exp(-size / rate)) allocations of its size, the weight Go's
 * own pprof heap profile scales by. */
static void on_go_alloc(struct collector *c, const struct mt_go_alloc *e)
{
	uint64_t id, rate = e->rate > 0 ? (uint64_t)e->rate : 0;
	struct memmetrics *mm;
	struct heapstate *h;
	double w;

	if (!u64map__del(c->pending, e->hdr.tid, &id)) {
		c->orphans++;
		return;
	}
	if (!heap_for(c, e->hdr.pid, &h, &mm))
		return;
	c->go_samples++;
	if (e->rate < 0)
		c->go_rate_unknown++;
	/* rate 1 samples everything; an unreadable rate is the default's */
	w = sampling__scale(e->size, e->rate < 0 ? 512 * 1024 : rate);
	if (heapstate__alloc_weighted(h, e->hdr.pid, e->addr,
				      (uint32_t)id, e->size, MT_OP_GO_MALLOC,
				      e->hdr.ktime_ns, w))
		c->errors++;
	if (mm &&
	    memmetrics__on_alloc(mm, component(c, (uint32_t)id), "go", e->size,
				 w * heapstate__scale(h, e->hdr.pid)))
		c->errors++;
}

/* A block someone else sampled (a program's or an allocator's sampler),
 * standing for w blocks of its size, into the heap and the metrics. */
static void add_weighted(struct collector *c, const struct mt_event_hdr *h,
			 uint64_t addr, uint32_t id, uint64_t size, double w)
{
	struct memmetrics *mm;
	struct heapstate *hs;

	if (!heap_for(c, h->pid, &hs, &mm))
		return;
	if (heapstate__alloc_weighted(hs, h->pid, addr, id, size, h->op,
				      h->ktime_ns, w))
		c->errors++;
	if (mm &&
	    memmetrics__on_alloc(mm, component(c, id),
				 c->op_name ? c->op_name(h->op) : "?", size,
				 w * heapstate__scale(hs, h->pid)))
		c->errors++;
}

/* otel_memory:alloc's block, after its ENTER (whose leaf frame, the
 * program sampler's function holding the probe, was dropped like the
 * allocator's). The weight comes from the program's sampler, as given. */
static void on_usdt_ret(struct collector *c, const struct mt_usdt_ret *e)
{
	uint64_t id;
	double w;

	if (!u64map__del(c->pending, e->hdr.tid, &id)) {
		c->orphans++;
		return;
	}
	/* blocks it stands for: weighted bytes over its own size (a weight
	 * of 0 says nothing: count the block once) */
	w = e->size && e->weight ? (double)e->weight / (double)e->size : 1.0;
	add_weighted(c, &e->hdr, e->addr, (uint32_t)id, e->size, w);
}

/* A block the allocator's own sampler chose (tcmalloc), after its ENTER:
 * it stands for 1 / (1 - exp(-size / period)) blocks of its size, the
 * weight pprof gives tcmalloc's own heap samples. */
static void on_alloc_sampled(struct collector *c,
			     const struct mt_alloc_sampled *e)
{
	uint64_t id;
	double w;

	if (!u64map__del(c->pending, e->hdr.tid, &id)) {
		c->orphans++;
		return;
	}
	c->allocator_samples++;
	/* unreadable: weigh by the sampling mean we would have used */
	w = sampling__scale(e->size, e->period > 0 ? (uint64_t)e->period
						   : c->sample_mean);
	add_weighted(c, &e->hdr, e->addr, (uint32_t)id, e->size, w);
}

int collector__on_event(void *ctx, void *data, size_t size)
{
	const struct mt_event_hdr *h = data;
	struct collector *c = ctx;
	bool heap = c->heap || c->heap_of;
	struct memmetrics *mm;
	struct heapstate *hs;

	c->events++;
	if (size < sizeof(*h)) {
		c->errors++;
		return 0;
	}
	switch (h->type) {
	case MT_EV_ALLOC_ENTER:
		if (heap)
			on_enter(c, data, size);
		break;
	case MT_EV_ALLOC_STACK_RET:
		if (heap && size >= sizeof(struct mt_alloc_stack_ret))
			on_stack_ret(c, data);
		break;
	case MT_EV_ALLOC_RET:
		if (heap && size >= sizeof(struct mt_alloc_ret))
			on_ret(c, data);
		break;
	case MT_EV_GO_ALLOC:
		if (heap && size >= sizeof(struct mt_go_alloc))
			on_go_alloc(c, data);
		break;
	case MT_EV_GO_CGO_STACK:
		if (heap && size >= offsetof(struct mt_go_cgo_stack, stack))
			on_cgo_stack(c, data, size);
		break;
	case MT_EV_CPU_SAMPLE:
		on_cpu(c, data, size);
		break;
	case MT_EV_USDT_RET:
		if (heap && size >= sizeof(struct mt_usdt_ret))
			on_usdt_ret(c, data);
		break;
	case MT_EV_ALLOC_SAMPLED:
		if (heap && size >= sizeof(struct mt_alloc_sampled))
			on_alloc_sampled(c, data);
		break;
	case MT_EV_FREE:
		if (heap && size >= sizeof(struct mt_free) &&
		    heap_for(c, h->pid, &hs, &mm))
			heapstate__free_block(hs, h->pid,
					((const struct mt_free *)data)->addr);
		break;
	case MT_EV_PROC_EXEC:
		/* new image: new tables (at its next window) */
		if (c->bu)
			bpfunwind__forget(c->bu, h->pid);
		if (c->stack_keys)
			forget_keys(c->stack_keys, h->pid);
		tables_forget(c, h->pid);
		/* fall through */
	case MT_EV_PROC_FORK:
		if (size < sizeof(struct mt_proc_event))
			c->errors++;
		else if (c->on_proc)
			c->on_proc(c->proc_ctx, data);
		break;
	case MT_EV_PROC_IMAGE:
		/* an untracked pid's next samples are of a new image (an
		 * exec, a fork into a reused pid): its maps are read afresh
		 * and its stacks and symbols are the new image's */
		if (c->targets)
			targets__forget(c->targets, (pid_t)h->pid);
		break;
	default:
		c->errors++;
	}
	return 0;
}
