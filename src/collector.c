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

#include "collector.h"
#include "log.h"
#include "u64map.h"
#include "unwind.h"

int collector__init(struct collector *c, struct target *t, struct stacks *s,
		    struct heapstate *h)
{
	memset(c, 0, sizeof(*c));
	c->target = t;
	c->stacks = s;
	c->heap = h;
	c->pending = calloc(1, sizeof(struct u64map));
	return c->pending ? 0 : -ENOMEM;
}

void collector__fini(struct collector *c)
{
	if (!c)
		return;
	u64map__free(c->pending);
	free(c->pending);
	c->pending = NULL;
}

static void on_enter(struct collector *c, const struct mt_alloc_enter *e,
		     size_t size)
{
	uint64_t pcs[COLLECTOR_MAX_FRAMES];
	size_t stack_len = e->stack_len;
	uint32_t id;
	int n;

	if (size < offsetof(struct mt_alloc_enter, stack) ||
	    stack_len > size - offsetof(struct mt_alloc_enter, stack)) {
		c->errors++;
		return;
	}
	n = unwind__user(c->target, e->hdr.tid, (const uint64_t *)e->regs, e->stack, stack_len,
			 1, pcs, COLLECTOR_MAX_FRAMES);
	if (n >= 2 && !target__covers(c->target, pcs[1]) &&
	    target__refresh(c->target, false) == 0)
		n = unwind__user(c->target, e->hdr.tid, (const uint64_t *)e->regs, e->stack,
				 stack_len, 1, pcs, COLLECTOR_MAX_FRAMES);
	if (n <= 2)
		c->unwind_short++;
	/* drop the allocator's own frame */
	id = n > 1 ? stacks__intern(c->stacks, e->hdr.pid, pcs + 1, n - 1,
				    false)
		   : stacks__intern(c->stacks, e->hdr.pid, pcs, n, true);
	if (!id) {
		c->errors++;
		return;
	}
	if (u64map__set(c->pending, e->hdr.tid, id))
		c->errors++;
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
			     e->hdr.op))
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
		on_enter(c, data, size);
		break;
	case MT_EV_ALLOC_RET:
		if (size >= sizeof(struct mt_alloc_ret))
			on_ret(c, data);
		break;
	case MT_EV_FREE:
		if (size >= sizeof(struct mt_free))
			heapstate__free_block(c->heap,
					      ((const struct mt_free *)data)->addr);
		break;
	default:
		c->errors++;
	}
	return 0;
}
