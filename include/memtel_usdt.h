/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memtel_usdt.h - the record of the otel_memory USDT programs (the block at
 * the end of bpf/memtel.bpf.c), shared with the collector. A program that
 * samples in-process fires otel_memory:alloc(ptr, size, weighted_bytes)
 * after a sampled allocation returned: one record carries the block, the
 * bytes it stands for and the registers + stack window at the probe site.
 * Its otel_memory:free(ptr) arrives as a plain struct mt_free.
 */
#ifndef MEMTEL_USDT_H
#define MEMTEL_USDT_H

#include "memtel.h"

/* Event type of struct mt_usdt_alloc; far from enum mt_event_type's
 * sequence so that new types there never collide with it. */
#define MT_EV_USDT_ALLOC 0x100

struct mt_usdt_alloc {
	struct mt_event_hdr hdr;	/* op: MT_OP_MALLOC */
	__u64 addr;
	__u64 size;
	__u64 weight;		/* weighted_bytes: bytes this sample stands for */
	__u64 regs[MT_NREGS];	/* user registers at the probe site */
	__u32 stack_len;	/* bytes of stack[] that are valid */
	__u32 pad;
	__u8 stack[MT_MAX_STACK_BYTES];
};

#endif /* MEMTEL_USDT_H */
