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
#include "attach/allocator.h"
#include "util/log.h"
#include "model/sampling.h"
#include "util/u64map.h"
#include "unwind/unwind.h"

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

void collector__fini(struct collector *c)
{
	uint64_t k, v;
	size_t it = 0;

	if (!c)
		return;
	if (c->components) {
		while (u64map__next(c->components, &it, &k, &v))
			free((void *)(uintptr_t)v);
		u64map__free(c->components);
		free(c->components);
		c->components = NULL;
	}
	u64map__free(c->pending);
	free(c->pending);
	c->pending = NULL;
}

/* Intern a stack; a stack seen for the first time is symbolized now,
 * while its process still has the same modules mapped. */
static uint32_t intern(struct collector *c, uint32_t pid, const uint64_t *pcs,
		       uint32_t n, bool leaf_exact)
{
	size_t before = stacks__count(c->stacks);
	struct stack_view v;
	uint32_t id;

	id = stacks__intern(c->stacks, pid, pcs, n, leaf_exact);
	if (id && stacks__count(c->stacks) != before && c->syms &&
	    stacks__get(c->stacks, id, &v))
		symcache__prime(c->syms, &v);
	return id;
}

/* Unwind a user stack of pid; re-reads the maps once when the pc to check
 * lies outside every known module (a library dlopen'ed since). */
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
	if (n > 0 && !target__covers(t, check) &&
	    target__refresh(t, false) == 0 && target__covers(t, check))
		n = unwind__user_fixed(t, tid, regs, stack, stack_len,
				       ret_at_sp, fix, pcs, max);
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
		if (nu > 0)
			n += (size_t)nu;
	}
	if (!n)
		return;
	id = intern(c, e->hdr.pid, pcs, (uint32_t)n, true);
	memcpy(comm, e->comm, MT_COMM_LEN);
	comm[MT_COMM_LEN] = '\0';
	if (!id || cpustate__add(c->cpu, id, e->hdr.pid, e->hdr.tid, comm))
		c->errors++;
}

static void on_enter(struct collector *c, const struct mt_alloc_enter *e,
		     size_t size)
{
	uint64_t pcs[COLLECTOR_MAX_FRAMES];
	size_t stack_len = e->stack_len;
	struct target *t;
	uint32_t id;
	int n;

	if (size < offsetof(struct mt_alloc_enter, stack) ||
	    stack_len > size - offsetof(struct mt_alloc_enter, stack)) {
		c->errors++;
		return;
	}
	/* an otel_memory:alloc site is mid-function, not an entry */
	n = user_stack(c, e->hdr.pid, e->hdr.tid, (const uint64_t *)e->regs,
		       e->stack, stack_len, e->hdr.op != MT_OP_USDT, NULL, pcs,
		       COLLECTOR_MAX_FRAMES, &t);
	if (n <= 2)
		c->unwind_short++;
	/* drop the allocator's own frame */
	id = n > 1 ? intern(c, e->hdr.pid, pcs + 1, n - 1, false)
		   : intern(c, e->hdr.pid, pcs, n, true);
	if (!id) {
		c->errors++;
		return;
	}
	if (u64map__set(c->pending, e->hdr.tid, id))
		c->errors++;
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
	if (!stacks__get(c->stacks, id, &v) || !v.n || !c->syms)
		return "unknown";
	r = symcache__get(c->syms, v.pid, v.pcs[0], !v.leaf_exact);
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

static void on_ret(struct collector *c, const struct mt_alloc_ret *e)
{
	uint64_t id;

	if (!u64map__del(c->pending, e->hdr.tid, &id)) {
		c->orphans++;
		return;
	}
	if (!e->addr)
		return;		/* the call failed: nothing allocated */
	if (heapstate__alloc(c->heap, e->addr, (uint32_t)id, e->size,
			     e->hdr.op, e->hdr.ktime_ns))
		c->errors++;
	if (c->mm &&
	    memmetrics__on_alloc(c->mm, component(c, (uint32_t)id),
				 allocator__op_name(e->hdr.op), e->size,
				 sampling__scale(e->size, c->sample_mean)))
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
	if (heapstate__alloc_weighted(c->heap, e->addr, (uint32_t)id, e->size,
				      w, e->hdr.op, e->hdr.ktime_ns))
		c->errors++;
	if (c->mm &&
	    memmetrics__on_alloc(c->mm, component(c, (uint32_t)id),
				 allocator__op_name(e->hdr.op), e->size, w))
		c->errors++;
}

int collector__on_event(void *ctx, void *data, size_t size)
{
	const struct mt_event_hdr *h = data;
	struct collector *c = ctx;

	c->events++;
	if (size < sizeof(*h)) {
		c->errors++;
		return 0;
	}
	switch (h->type) {
	case MT_EV_ALLOC_ENTER:
		if (c->heap)
			on_enter(c, data, size);
		break;
	case MT_EV_ALLOC_RET:
		if (c->heap && size >= sizeof(struct mt_alloc_ret))
			on_ret(c, data);
		break;
	case MT_EV_CPU_SAMPLE:
		on_cpu(c, data, size);
		break;
	case MT_EV_USDT_RET:
		if (c->heap && size >= sizeof(struct mt_usdt_ret))
			on_usdt_ret(c, data);
		break;
	case MT_EV_FREE:
		if (c->heap && size >= sizeof(struct mt_free))
			heapstate__free_block(c->heap,
					      ((const struct mt_free *)data)->addr);
		break;
	default:
		c->errors++;
	}
	return 0;
}
