/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memtel_usdt.h - the record of the otel_memory USDT programs (the block at
 * the end of bpf/memtel.bpf.c), shared with the collector. A program that
 * samples in-process fires otel_memory:alloc(ptr, size, weighted_bytes)
 * after a sampled allocation returned: the registers + stack window at the
 * probe site go as an mt_alloc_enter (op MT_OP_USDT), then the block and
 * the bytes it stands for as an mt_usdt_ret. Its otel_memory:free(ptr)
 * arrives as a plain struct mt_free.
 */
#ifndef MEMTEL_USDT_H
#define MEMTEL_USDT_H

#include "memtel.h"

/* Op of the mt_alloc_enter record sent from an otel_memory:alloc site:
 * its pc is mid-function (the return address is not at [sp]). Far from
 * enum mt_op's and mt_event_type's sequences so new values there never
 * collide with these. */
#define MT_OP_USDT 0x100
/* Event type of struct mt_usdt_ret, which follows that ENTER. */
#define MT_EV_USDT_RET 0x100

struct mt_usdt_ret {
	struct mt_event_hdr hdr;	/* op: MT_OP_MALLOC */
	__u64 addr;
	__u64 size;
	__u64 weight;		/* weighted_bytes: bytes this sample stands for */
};

#endif /* MEMTEL_USDT_H */
