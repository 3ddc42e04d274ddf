// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memtel.bpf.c - heap profiling probes on the target's allocator.
 *
 * alloc_enter runs at (an emulated instruction near) the entry of every
 * allocating function (malloc family, C++ operator new where the allocator
 * defines its own, jemalloc's *allocx), alloc_ret at its return,
 * free_enter inside every freeing one (free, operator delete, sdallocx,
 * free_sized...) after the NULL test. Where the kernel has uprobe sessions (6.12+),
 * alloc_session does both halves through one uprobe_multi link (and
 * free_multi the frees through another), and its
 * entry half returns 1 for calls that need no return (the unsampled ones),
 * so the kernel skips hijacking their return address: that hijack is most
 * of what a uretprobe costs. Allocations are sampled by bytes (Poisson, mean set
 * by userspace); an unsampled call costs one per-CPU array lookup and a
 * subtraction, plus one hash lookup at its return. A sampled call sends its
 * registers and a copy of the user stack (for unwinding in userspace) at
 * entry, and its address at return; sampled blocks are remembered in `live`
 * so their frees, and only theirs, are reported.
 *
 * Ring-buffer records are submitted with BPF_RB_NO_WAKEUP: on our kernels
 * wakeups from uprobe context lose events (docs/PLATFORM.md); userspace
 * drains on a timer. The one exception, the CPU sampler's first sample of
 * a process image and its first one 2 ms later (cpu_seen), cut that nap
 * short. Every record or map
 * insert that fails is counted.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "memtel.h"
#include <bpf/usdt.bpf.h>	/* otel_memory USDT programs, at the end */
#include "memtel_usdt.h"
#include "memtel_allocsample.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by userspace before load. */
const volatile bool filter_tgids = false;	/* only tgids in `targets` */
const volatile bool follow_children = false;	/* add forked children */
const volatile __u32 stack_bytes = 8192;	/* <= MT_MAX_STACK_BYTES */
const volatile bool sample_all = false;		/* --sample-bytes 1 */
const volatile __u64 sample_table[MT_SAMPLE_TABLE_SIZE];
const volatile bool cpu_all = false;		/* --all: every process */
const volatile __u32 self_tgid = 0;		/* never sample ourselves */
const volatile bool cpu_kernel = true;		/* kernel stacks too */
const volatile bool session_mode = false;	/* alloc_session in use */

/* uprobe session kfuncs (kernel 6.12+); weak so older kernels still load
 * the classic programs. */
extern bool bpf_session_is_return(void) __ksym __weak;

/* A nested allocator call (reallocarray tail-calling realloc through the
 * PLT) is recognised by its thread already being inside a tracked call that
 * started at or above its stack pointer within this many ns; the outer call
 * alone is recorded. */
#define NEST_WINDOW_NS (50ULL * 1000 * 1000)

/* A thread's tracked call in progress; depth 0: none. */
struct tstate {
	__u64 sp;
	__u64 ts;
	__u64 size;
	__u64 old;		/* realloc's pointer argument */
	__u64 memptr;		/* posix_memalign's out parameter */
	__u32 op;
	__u32 depth;
	__u32 sampled;
	__u32 keyed;		/* BPF unwound the stack: key, nr */
	struct mt_stack_key key;
	__u32 nr;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_sampler);
} samplers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MT_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Task local storage, not a hash keyed by tid: the kernel finds a task's
 * entry from the task itself (a per-task cache slot), with no hashing,
 * bucket lock or element allocation per call, and frees it with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tstate);
} tstates SEC(".maps");

/* Sampled blocks still live: (tgid, address) -> size. Forked processes
 * share addresses, so the address alone does not name a block. */
struct live_key {
	__u64 addr;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct live_key);
	__type(value, __u64);
} live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_alloc_enter);
} scratch SEC(".maps");

/* The processes profiled: tgid -> struct mt_target (probe hits). Userspace adds the --pid list and
 * launched processes, the fork tracepoint adds children of tracked ones,
 * userspace removes those that exited. Bounded (MT_MAX_TARGETS by
 * default): a child that does not fit is counted and not profiled. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MT_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct mt_target);
} targets SEC(".maps");

/* The CPU sampler has its own scratch record: a timer interrupt can land
 * in the middle of a uprobe program on the same CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_cpu_sample);
} cpu_scratch SEC(".maps");

/* Processes the CPU sampler has told userspace of since their last fork
 * or exec: tgid -> time of the first sample, 0 once told twice. The first
 * sample of an image is submitted with a wakeup, so the profiler reads the
 * process's maps while it lives (a process of a few ms is gone by the end
 * of a 20 ms nap, and its stacks with it); so is the first one
 * CPU_SEEN_AGAIN_NS later, when the loader has mapped the libraries it had
 * not at the first. Evicting an entry costs a wakeup more, nothing else. */
#define CPU_SEEN_AGAIN_NS (2 * 1000 * 1000ULL)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} cpu_seen SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline bool tracked(__u32 tgid)
{
	return !filter_tgids || bpf_map_lookup_elem(&targets, &tgid);
}

/* tracked() for the heap programs: also counts n probe hits (this
 * invocation and, where known, the return half it commits the kernel to)
 * on the process's `targets` entry, from the lookup the filter does
 * anyway. One atomic add; the per-hit cost is what userspace calibrates. */
static __always_inline bool tracked_hit_t(__u32 tgid, __u64 n,
					  struct mt_target **tp)
{
	struct mt_target *t = bpf_map_lookup_elem(&targets, &tgid);

	*tp = t;
	if (!t)
		return !filter_tgids;
	__sync_fetch_and_add(&t->hits, n);
	return true;
}

static __always_inline bool tracked_hit(__u32 tgid, __u64 n)
{
	struct mt_target *t;

	return tracked_hit_t(tgid, n, &t);
}

static __always_inline __u64 mul_or_zero(__u64 a, __u64 b)
{
	/* calloc/reallocarray fail with ENOMEM on overflow: nothing is
	 * allocated, so such a call is accounted as size 0 (and it returns
	 * NULL, which drops it). No 128-bit multiply in BPF: divide instead. */
	__u64 lim;

	if (!a)
		return 0;
	lim = ~0ULL / a;
	/* keep clang from folding this back into a 128-bit multiply */
	asm volatile("" : "+r"(lim));
	if (b > lim)
		return 0;
	return a * b;
}

static __always_inline void fill_hdr_at(struct mt_event_hdr *h, __u32 type,
					__u32 op, __u64 pid_tgid, __u64 ts)
{
	h->type = type;
	h->op = op;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ktime_ns = ts;
}

static __always_inline void fill_hdr(struct mt_event_hdr *h, __u32 type,
				     __u32 op, __u64 pid_tgid)
{
	fill_hdr_at(h, type, op, pid_tgid, bpf_ktime_get_ns());
}

/* Copy the user stack window at sp; halves the length until the read
 * succeeds (the window may run past the top of the stack mapping). When
 * the ring buffer is more than half full (userspace falling behind a burst
 * of sampled calls) only a short window goes: counts stay exact and the
 * calling frame ([rsp]) stays right, only deep frames are lost. */
static __always_inline __u32 copy_stack_n(__u8 *dst, __u64 sp,
					  __u32 busy_len)
{
	__u32 len = stack_bytes;
	int i, err = -1;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
	    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 2) {
		count(MT_CNT_STACK_SHORT);
		if (len > busy_len)
			len = busy_len;
	}

	for (i = 0; i < 6; i++) {
		if (len > MT_MAX_STACK_BYTES)
			len = MT_MAX_STACK_BYTES;
		if (len < 8)
			break;
		err = bpf_probe_read_user(dst, len, (void *)sp);
		if (!err)
			break;
		len >>= 1;
	}
	if (err) {
		count(MT_CNT_STACK_FAIL);
		return 0;
	}
	return len;
}

static __always_inline __u32 copy_stack(__u8 *dst, __u64 sp)
{
	return copy_stack_n(dst, sp, 256);
}

static __always_inline void copy_regs(__u64 *r, struct pt_regs *regs)
{
	r[MT_REG_RAX] = BPF_CORE_READ(regs, ax);
	r[MT_REG_RDX] = BPF_CORE_READ(regs, dx);
	r[MT_REG_RCX] = BPF_CORE_READ(regs, cx);
	r[MT_REG_RBX] = BPF_CORE_READ(regs, bx);
	r[MT_REG_RSI] = BPF_CORE_READ(regs, si);
	r[MT_REG_RDI] = BPF_CORE_READ(regs, di);
	r[MT_REG_RBP] = BPF_CORE_READ(regs, bp);
	r[MT_REG_RSP] = BPF_CORE_READ(regs, sp);
	r[MT_REG_R8] = BPF_CORE_READ(regs, r8);
	r[MT_REG_R9] = BPF_CORE_READ(regs, r9);
	r[MT_REG_R10] = BPF_CORE_READ(regs, r10);
	r[MT_REG_R11] = BPF_CORE_READ(regs, r11);
	r[MT_REG_R12] = BPF_CORE_READ(regs, r12);
	r[MT_REG_R13] = BPF_CORE_READ(regs, r13);
	r[MT_REG_R14] = BPF_CORE_READ(regs, r14);
	r[MT_REG_R15] = BPF_CORE_READ(regs, r15);
	r[MT_REG_RIP] = BPF_CORE_READ(regs, ip);
}

#include "unwind.bpf.h"

/* Go programs' cgo calls (defined with the other Go programs below). */
static __always_inline void emit_cgo_stack(const struct mt_alloc_enter *e,
					   __u32 len, __u64 pid_tgid);

/* Registers + stack window of a sampled call, sent ahead of its return
 * (USDT sites and the Go runtime always: cgo needs the window; allocator
 * entry points where the BPF walk failed). */
static __always_inline int emit_enter(struct pt_regs *ctx, __u32 op,
				      __u64 pid_tgid)
{
	__u32 zero = 0, len;
	struct mt_alloc_enter *e;

	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return -1;
	fill_hdr(&e->hdr, MT_EV_ALLOC_ENTER, op, pid_tgid);
	copy_regs(e->regs, ctx);
	/* a sample on an allocator's sampled path is taken below the
	 * allocator's own frames (tcmalloc's DoSampledAllocation holds a
	 * 264-byte StackTrace): a short window would end inside them */
	len = copy_stack_n(e->stack, ctx->sp, op == MT_OP_ALLOC_SAMPLED ?
				MT_ALLOCSAMPLE_BUSY_STACK : 256);
	e->stack_len = len;

	if (len > MT_MAX_STACK_BYTES)
		len = MT_MAX_STACK_BYTES;
	if (op < MT_OP__COUNT)
		emit_cgo_stack(e, len, pid_tgid);
	if (bpf_ringbuf_output(&events, e,
			       offsetof(struct mt_alloc_enter, stack) + len,
			       BPF_RB_NO_WAKEUP)) {
		count(MT_CNT_RB_DROPS);
		return -1;
	}
	return 0;
}

/* Decide whether an allocation of size bytes contains a sample point. */
static __always_inline bool sample(__u64 size)
{
	__u32 zero = 0;
	struct mt_sampler *s;

	s = bpf_map_lookup_elem(&samplers, &zero);
	if (!s)
		return false;
	s->calls++;
	if (sample_all)
		goto hit;
	if (s->remaining > (__s64)size) {
		s->remaining -= size;
		return false;
	}
	s->remaining = sample_table[bpf_get_prandom_u32() &
				    (MT_SAMPLE_TABLE_SIZE - 1)];
hit:
	s->sampled++;
	return true;
}

/* Entry half. Returns 0 if the return half must run, 1 if it need not. */
static __always_inline int on_entry(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 op = (__u32)bpf_get_attach_cookie(ctx);
	__u64 a0 = PT_REGS_PARM1(ctx), a1 = PT_REGS_PARM2(ctx);
	__u64 size = 0, old = 0, memptr = 0, sp = ctx->sp;
	struct mt_target *tgt;
	struct task_struct *task;
	struct tstate *st;
	bool sampled;

	/* a classic uretprobe fires for every call: count it here, where
	 * the lookup is done (a session's return is counted below) */
	if (!tracked_hit_t(pid_tgid >> 32, session_mode ? 1 : 2, &tgt))
		return 1;

	switch (op) {
	case MT_OP_MALLOC:
	case MT_OP_VALLOC:
	case MT_OP_PVALLOC:
	case MT_OP_NEW ... MT_OP_NEW_ARRAY_ALIGNED_NOTHROW:
	case MT_OP_MALLOCX:
		size = a0;
		break;
	case MT_OP_RALLOCX:
	case MT_OP_XALLOCX:
		old = a0;
		size = a1;
		break;
	case MT_OP_CALLOC:
		size = mul_or_zero(a0, a1);
		break;
	case MT_OP_REALLOC:
		old = a0;
		size = a1;
		break;
	case MT_OP_REALLOCARRAY:
		old = a0;
		size = mul_or_zero(a1, PT_REGS_PARM3(ctx));
		break;
	case MT_OP_POSIX_MEMALIGN:
		memptr = a0;
		size = PT_REGS_PARM3(ctx);
		break;
	case MT_OP_ALIGNED_ALLOC:
	case MT_OP_MEMALIGN:
		size = a1;
		break;
	default:
		return 1;
	}

	task = bpf_get_current_task_btf();
	st = bpf_task_storage_get(&tstates, task, 0, 0);
	if (st && st->depth) {
		__u64 now = bpf_ktime_get_ns();

		if (sp <= st->sp && now - st->ts < NEST_WINDOW_NS) {
			/* a session's nested call simply skips its return */
			if (session_mode)
				return 1;
			st->depth++;
			return 0;
		}
		/* stale: its return was never seen */
	}

	sampled = sample(size);
	if (!sampled && !old) {
		if (st)
			st->depth = 0;
		return 1;
	}
	if (!st) {
		/* the thread's first tracked call */
		st = bpf_task_storage_get(&tstates, task, 0,
					  BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!st) {
			count(MT_CNT_TID_FULL);
			return 1;
		}
	}

	/* an unwound stack travels in the return's record (one record per
	 * sampled call); a failed walk sends the window now */
	st->keyed = 0;
	if (sampled && !unw_stack(ctx, pid_tgid, &st->key, &st->nr))
		st->keyed = 1;
	else if (sampled && emit_enter(ctx, op, pid_tgid))
		sampled = false;

	st->sp = sp;
	st->ts = bpf_ktime_get_ns();
	st->size = size;
	st->old = old;
	st->memptr = memptr;
	st->op = op;
	st->depth = 1;
	st->sampled = sampled;
	if (session_mode && tgt)	/* count the return half */
		__sync_fetch_and_add(&tgt->hits, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(alloc_enter)
{
	on_entry(ctx);
	return 0;
}

static __always_inline void emit_free(__u64 addr, __u32 op, __u64 pid_tgid)
{
	struct mt_free *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(MT_CNT_RB_DROPS);
		return;
	}
	/* no time: nothing reads a free's, and bpf_ktime_get_ns was ~30 ns
	 * of free_enter's ~160 here (include/memtel.h) */
	fill_hdr_at(&e->hdr, MT_EV_FREE, op, pid_tgid, 0);
	e->addr = addr;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

static __always_inline int on_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 ret = PT_REGS_RC(ctx), addr = ret;
	struct mt_alloc_ret *e;
	struct tstate *st;
	__u32 op;

	st = bpf_task_storage_get(&tstates, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->depth)
		return 0;
	if (st->depth > 1) {
		st->depth--;
		return 0;
	}
	op = st->op;

	if (op == MT_OP_POSIX_MEMALIGN) {
		addr = 0;
		/* returns 0 on success, an error number otherwise */
		if ((int)ret == 0 &&
		    bpf_probe_read_user(&addr, sizeof(addr), (void *)st->memptr))
			addr = 0;
	}

	/* xallocx(p, size, ...) resizes in place and returns the usable size
	 * it ended with: below size means it could not, and p is unchanged.
	 * Success is accounted like a realloc that kept its address. */
	if (op == MT_OP_XALLOCX)
		addr = ret >= st->size ? st->old : 0;

	/* realloc(p, n): on success p is freed (even when the block stays in
	 * place); realloc(p, 0) frees p and returns NULL; any other NULL
	 * return is a failure that leaves p allocated (rallocx and xallocx
	 * take no size 0). */
	if (st->old && (addr || (st->size == 0 && (op == MT_OP_REALLOC ||
						   op == MT_OP_REALLOCARRAY)))) {
		struct live_key old = { .addr = st->old, .tgid = pid_tgid >> 32 };

		if (!bpf_map_delete_elem(&live, &old))
			emit_free(old.addr, op, pid_tgid);
	}

	if (st->sampled) {
		struct live_key key = { .addr = addr, .tgid = pid_tgid >> 32 };
		__u64 size = st->size;

		if (addr && bpf_map_update_elem(&live, &key, &size, BPF_ANY))
			count(MT_CNT_LIVE_FULL);
		if (st->keyed) {
			struct mt_alloc_stack_ret *k;

			k = bpf_ringbuf_reserve(&events, sizeof(*k), 0);
			if (k) {
				/* stamped at the call's entry (st->ts): one
				 * clock read per call */
				fill_hdr_at(&k->hdr, MT_EV_ALLOC_STACK_RET, op,
					    pid_tgid, st->ts);
				k->key = st->key;
				k->nr = st->nr;
				k->pad = 0;
				k->addr = addr;
				k->size = size;
				bpf_ringbuf_submit(k, BPF_RB_NO_WAKEUP);
			} else {
				count(MT_CNT_RB_DROPS);
			}
		} else {
			e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
			if (e) {
				fill_hdr_at(&e->hdr, MT_EV_ALLOC_RET, op,
					    pid_tgid, st->ts);
				e->addr = addr;
				e->size = size;
				bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
			} else {
				count(MT_CNT_RB_DROPS);
			}
		}
	}
	st->depth = 0;
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(alloc_ret)
{
	return on_return(ctx);
}

/* Loaded with expected_attach_type BPF_TRACE_UPROBE_SESSION by userspace
 * (libbpf 1.1 has no "uprobe.session" section name) and attached with a
 * uprobe_multi link. */
static __always_inline void on_free(__u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct live_key key = { .addr = addr, .tgid = pid_tgid >> 32 };

	if (!tracked_hit(key.tgid, 1) || !key.addr)
		return;
	/* Only sampled blocks are in `live`; everything else costs one
	 * failed delete. */
	if (bpf_map_delete_elem(&live, &key))
		return;
	emit_free(key.addr, MT_OP_FREE, pid_tgid);
}

/* The allocation functions of a process in one uprobe session link, its
 * frees in one plain uprobe_multi link (free_multi): one link each per
 * process, because creating and closing each classic uprobe costs
 * 50-200 ms here and a process tree pays it per process
 * (docs/PLATFORM.md). The frees have a link of their own because a
 * session consumer that filters out another process's hit still asks for
 * its return: with the frees in the session, every free of one process
 * paid a return trap for each other process's link on the same file. */
SEC("uprobe")
int BPF_KPROBE(alloc_session)
{
	if (bpf_session_is_return())
		return on_return(ctx);
	return on_entry(ctx);
}

SEC("uprobe")
int BPF_KPROBE(free_multi, void *ptr)
{
	on_free((__u64)ptr);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(free_enter, void *ptr)
{
	on_free((__u64)ptr);
	return 0;
}

static __always_inline struct pt_regs *uregs_of(struct task_struct *task)
{
	return (struct pt_regs *)bpf_task_pt_regs(task);
}

/* 99 Hz (by default) on every online CPU: kernel stack from the perf
 * context, user registers from the task's saved user state (valid whether
 * the interrupt hit user or kernel mode), and a user stack window for
 * unwinding in userspace, the same path heap samples take. */
SEC("perf_event")
int cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, zero = 0, len = 0;
	struct task_struct *task;
	struct mt_cpu_sample *e;
	/* probed insn being single-stepped (or 0); caller to resume in when
	 * interrupted in the uretprobe trampoline (or 0) */
	__u64 xol_ip = 0, tramp_ip = 0, tramp_sp = 0;
	struct pt_regs *uregs;
	__u64 flags = BPF_RB_NO_WAKEUP, now, *seen;
	long n;

	count(MT_CNT_CPU_SAMPLES);
	if (!(__u32)pid_tgid)
		return 0;	/* the idle task */
	if (tgid == self_tgid)
		return 0;
	if (!cpu_all && (!filter_tgids || !tracked(tgid)))
		return 0;

	e = bpf_map_lookup_elem(&cpu_scratch, &zero);
	if (!e)
		return 0;
	fill_hdr(&e->hdr, MT_EV_CPU_SAMPLE, 0, pid_tgid);
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	e->nr_kstack = 0;
	if (cpu_kernel) {
		n = bpf_get_stack(ctx, e->kstack, sizeof(e->kstack), 0);
		if (n > 0)
			e->nr_kstack = n / sizeof(__u64);
	}

	task = bpf_get_current_task_btf();
	e->user = 0;
	e->nr_uret = 0;
	{
		/* a uretprobe (ours: a sampled allocation in progress) has
		 * replaced return addresses with its trampoline; report the
		 * originals so the unwinder can walk past them, as perf does
		 * in the kernel */
		struct return_instance *ri = NULL;
		struct uprobe_task *ut = BPF_CORE_READ(task, utask);
		int i;

		if (ut) {
			__u64 xol = BPF_CORE_READ(ut, xol_vaddr);
			__u64 ip = BPF_CORE_READ(uregs_of(task), ip);

			ri = BPF_CORE_READ(ut, return_instances);
			/* interrupted while single-stepping a probed
			 * instruction out of line: name the probed one */
			if (xol && ip - xol < 32)
				xol_ip = BPF_CORE_READ(ut, vaddr);
			/* interrupted in the uretprobe trampoline (at the
			 * start of the [uprobes] page), on its way back to
			 * the caller: resume from the caller as if the
			 * function had returned there */
			else if (ri && ip - BPF_CORE_READ(task, mm, uprobes_state.xol_area,
							  vaddr) < 64) {
				tramp_ip = BPF_CORE_READ(ri, orig_ret_vaddr);
				tramp_sp = BPF_CORE_READ(ri, stack) + 8;
			}
		}
		for (i = 0; i < MT_MAX_URET && ri; i++) {
			e->uret_slot[i] = BPF_CORE_READ(ri, stack);
			e->uret_orig[i] = BPF_CORE_READ(ri, orig_ret_vaddr);
			ri = BPF_CORE_READ(ri, next);
			e->nr_uret = i + 1;
		}
	}
	if (!(BPF_CORE_READ(task, flags) & 0x00200000 /* PF_KTHREAD */)) {
		uregs = (struct pt_regs *)bpf_task_pt_regs(task);
		copy_regs(e->regs, uregs);
		if (xol_ip)
			e->regs[MT_REG_RIP] = xol_ip;
		if (tramp_ip) {
			e->regs[MT_REG_RIP] = tramp_ip;
			e->regs[MT_REG_RSP] = tramp_sp;
		}
		e->user = 1;
		len = copy_stack(e->stack, e->regs[MT_REG_RSP]);
	}
	e->stack_len = len;
	if (len > MT_MAX_STACK_BYTES)
		len = MT_MAX_STACK_BYTES;
	/* an image's first sample and one a little later wake the profiler
	 * (cpu_seen); from this (perf) context the wakeup goes through
	 * irq_work and loses nothing */
	seen = bpf_map_lookup_elem(&cpu_seen, &tgid);
	now = bpf_ktime_get_ns();
	if (!seen) {
		if (bpf_map_update_elem(&cpu_seen, &tgid, &now, BPF_ANY) == 0)
			flags = BPF_RB_FORCE_WAKEUP;
	} else if (*seen && now - *seen >= CPU_SEEN_AGAIN_NS) {
		*seen = 0;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	if (bpf_ringbuf_output(&events, e,
			       offsetof(struct mt_cpu_sample, stack) + len,
			       flags))
		count(MT_CNT_RB_DROPS);
	return 0;
}

static __always_inline void emit_proc(__u32 type, __u32 pid, __u32 ppid)
{
	struct mt_proc_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(MT_CNT_PROC_DROPS);
		return;
	}
	fill_hdr(&e->hdr, type, 0, (__u64)pid << 32 | pid);
	e->ppid = ppid;
	e->pad = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* A tracked process forked: the child joins the set here, in the kernel,
 * before it runs, so the CPU sampler misses none of its life; userspace
 * attaches its heap probes when it reads the notice. New threads
 * (CLONE_THREAD: child pid != child tgid) are already covered. Sampling
 * node-wide, every other new process is told too (MT_EV_PROC_IMAGE). */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(proc_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	struct mt_target zero = {};

	if (ctgid != (__u32)BPF_CORE_READ(child, pid))
		return 0;
	bpf_map_delete_elem(&cpu_seen, &ctgid);	/* a reused pid is new */
	if (!follow_children || !bpf_map_lookup_elem(&targets, &ptgid)) {
		/* node-wide: the pid may be reused, its symbols are new */
		if (cpu_all)
			emit_proc(MT_EV_PROC_IMAGE, ctgid, ptgid);
		return 0;
	}
	if (bpf_map_update_elem(&targets, &ctgid, &zero, BPF_NOEXIST)) {
		/* already there (userspace was first) is not a drop */
		if (!bpf_map_lookup_elem(&targets, &ctgid))
			count(MT_CNT_TARGETS_FULL);
		return 0;
	}
	emit_proc(MT_EV_PROC_FORK, ctgid, ptgid);
	return 0;
}

/* A tracked process exec'd: its allocator and symbols must be found again
 * in the new image. Sampling node-wide, every other exec is told too
 * (MT_EV_PROC_IMAGE): its symbols are the new image's. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);

	bpf_map_delete_elem(&cpu_seen, &tgid);	/* a new image to read */
	if (!follow_children || !bpf_map_lookup_elem(&targets, &tgid)) {
		if (cpu_all)
			emit_proc(MT_EV_PROC_IMAGE, tgid, 0);
		return 0;
	}
	/* the old image's unwind tables must not walk the new one (a non-PIE
	 * executable sits at the same address); userspace loads new ones */
	bpf_map_delete_elem(&unw_procs, &tgid);
	emit_proc(MT_EV_PROC_EXEC, tgid, 0);
	return 0;
}

/*
 * The Go runtime's sampled heap. Go samples one allocation per
 * runtime.MemProfileRate bytes on its own and calls
 * runtime.mProf_Malloc(p, size) for each; a sampled object's profile
 * record is released by runtime.freeSpecial(s, p, size) when the sweeper
 * frees it (s->kind == _KindSpecialProfile). Probing only those two costs
 * the program nothing per unsampled allocation. Go >= 1.17 passes
 * arguments in registers: RAX, RBX, RCX, ... (ABIInternal).
 * go_procs maps each Go process probed to the address of its
 * runtime.MemProfileRate, read at every sample so that a program setting
 * its own rate is weighted right.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* tgid */
	__type(value, struct mt_go_proc);
} go_procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_go_cgo_stack);
} cgo_scratch SEC(".maps");

#define GO_KIND_SPECIAL_PROFILE 2	/* runtime/mheap.go, Go 1.19 */
#define GO_SPECIAL_KIND_OFF 10		/* special{next *special; offset
					 * uint16; kind byte} */

SEC("uprobe")
int BPF_KPROBE(go_malloc)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct mt_go_proc *gp;
	struct mt_go_alloc *e;
	__s64 rate = -1;

	gp = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!gp)
		return 0;
	tracked_hit(tgid, 1);
	if (bpf_probe_read_user(&rate, sizeof(rate), (void *)gp->rate_addr))
		rate = -1;
	if (emit_enter(ctx, MT_OP_GO_MALLOC, pid_tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(MT_CNT_RB_DROPS);
		return 0;
	}
	fill_hdr(&e->hdr, MT_EV_GO_ALLOC, MT_OP_GO_MALLOC, pid_tgid);
	e->addr = ctx->ax;
	e->size = ctx->bx;
	e->rate = rate;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(go_free)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	__u8 kind = 0;

	if (!bpf_map_lookup_elem(&go_procs, &tgid))
		return 0;
	tracked_hit(tgid, 1);
	if (bpf_probe_read_user(&kind, sizeof(kind),
				(void *)(ctx->ax + GO_SPECIAL_KIND_OFF)) ||
	    kind != GO_KIND_SPECIAL_PROFILE)
		return 0;
	emit_free(ctx->bx, MT_OP_GO_FREE, pid_tgid);
	return 0;
}

/*
 * A C allocation in a Go program made through cgo runs on the system
 * stack: runtime.asmcgocall switched to it and left, at its own stack
 * pointer S, the depth of the goroutine's stack pointer below
 * g.stack.hi ([S + 40]) and g ([S + 48]); the copied window ends there for
 * the unwinder. Find S from the return address asmcgocall's call leaves
 * below it (the first such word above sp), and send the goroutine's stack
 * from its saved pointer, where [sp] returns into runtime.cgocall.
 * Offsets: runtime/asm_amd64.s and g.stack.hi in runtime2.go, Go 1.19.
 */
#define GO_CGO_DEPTH_OFF 40
#define GO_CGO_G_OFF 48
#define GO_G_STACK_HI_OFF 8

static __always_inline void emit_cgo_stack(const struct mt_alloc_enter *e,
					   __u32 len, __u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32, zero = 0, i, n;
	__u64 s = 0, depth, g, hi, sp, w;
	struct mt_go_cgo_stack *c;
	struct mt_go_proc *gp;

	gp = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!gp || !gp->cgo_ret)
		return;
	for (i = 0; i < MT_MAX_STACK_BYTES / 8; i++) {
		if (i * 8 + 8 > len)
			return;
		w = *(const __u64 *)(e->stack + (i * 8 & (MT_MAX_STACK_BYTES - 8)));
		if (w == gp->cgo_ret) {
			s = e->regs[MT_REG_RSP] + i * 8 + 8;
			break;
		}
	}
	if (!s || bpf_probe_read_user(&depth, sizeof(depth),
				      (void *)(s + GO_CGO_DEPTH_OFF)) ||
	    bpf_probe_read_user(&g, sizeof(g), (void *)(s + GO_CGO_G_OFF)) ||
	    bpf_probe_read_user(&hi, sizeof(hi),
				(void *)(g + GO_G_STACK_HI_OFF)) ||
	    depth < 8 || depth > hi)
		return;
	sp = hi - depth;
	c = bpf_map_lookup_elem(&cgo_scratch, &zero);
	if (!c)
		return;
	n = depth < stack_bytes ? depth : stack_bytes;
	if (n > MT_MAX_STACK_BYTES)
		n = MT_MAX_STACK_BYTES;
	if (n < 8 || bpf_probe_read_user(c->stack, n, (void *)sp)) {
		count(MT_CNT_STACK_FAIL);
		return;
	}
	fill_hdr(&c->hdr, MT_EV_GO_CGO_STACK, 0, pid_tgid);
	c->sp = sp;
	c->stack_len = n;
	if (bpf_ringbuf_output(&events, c,
			       offsetof(struct mt_go_cgo_stack, stack) + n,
			       BPF_RB_NO_WAKEUP))
		count(MT_CNT_RB_DROPS);
}

/* --- otel_memory USDT probes (src/attach/usdt.c) ---------------------------
 * Fired by a program's own byte sampler (libmemtel-sampler.so, or any that
 * follows the OpenTelemetry memory contract) for sampled allocations and
 * for frees of sampled pointers only: nothing here samples or keeps state,
 * and nothing traps for unsampled calls. weighted_bytes is used as given. */
SEC("usdt")
int BPF_USDT(usdt_alloc, void *ptr, __u64 size, __u64 weighted_bytes)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct mt_usdt_ret *e;

	if (!tracked_hit(pid_tgid >> 32, 1) || !ptr)
		return 0;
	/* the stack first, as for the uprobes: the collector pairs them */
	if (emit_enter(ctx, MT_OP_USDT, pid_tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(MT_CNT_RB_DROPS);
		return 0;
	}
	fill_hdr(&e->hdr, MT_EV_USDT_RET, MT_OP_MALLOC, pid_tgid);
	e->addr = (__u64)ptr;
	e->size = size;
	e->weight = weighted_bytes;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("usdt")
int BPF_USDT(usdt_free, void *ptr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!tracked_hit(pid_tgid >> 32, 1) || !ptr)
		return 0;
	emit_free((__u64)ptr, MT_OP_FREE, pid_tgid);
	return 0;
}

/* --- allocator-sampled path (src/attach/allocsample.c) ---------------------
 * tcmalloc with TCMALLOC_SAMPLE_PARAMETER set samples its own allocations:
 * DoSampledAllocation gives a sampled block its own span, sets the span's
 * sample bit and links it into the sampled list with
 * DLL_Prepend(list, span); do_free_pages unlinks it with DLL_Remove(span)
 * only when that bit is set. The probes sit on those two `call`
 * instructions (emulated by the kernel), which nothing else executes, so
 * unsampled malloc/free never trap. The block is span->start <<
 * page_shift; its requested size is the first word of the StackTrace
 * tcmalloc hung on span->objects. */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);	/* tgid */
	__type(value, struct mt_alloc_sampler_proc);
} alloc_samplers SEC(".maps");

static __always_inline __u64 tc_span_addr(__u64 span, __u32 shift)
{
	__u64 start = 0;

	if (bpf_probe_read_user(&start, sizeof(start),
				(void *)(span + MT_TC_SPAN_START_OFF)))
		return 0;
	return start << (shift & 63);
}

SEC("uprobe")
int BPF_KPROBE(tc_sampled_alloc, void *list, void *span)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct mt_alloc_sampler_proc *sp;
	struct mt_alloc_sampled *e;
	__u64 addr, st = 0, size = 0;
	__s64 period = -1;

	sp = bpf_map_lookup_elem(&alloc_samplers, &tgid);
	if (!sp || !span)
		return 0;
	addr = tc_span_addr((__u64)span, sp->page_shift);
	if (!addr ||
	    bpf_probe_read_user(&st, sizeof(st),
				(void *)((__u64)span + MT_TC_SPAN_OBJECTS_OFF)) ||
	    !st ||
	    bpf_probe_read_user(&size, sizeof(size),
				(void *)(st + MT_TC_STACK_SIZE_OFF)))
		return 0;
	if (!sp->period_addr ||
	    bpf_probe_read_user(&period, sizeof(period),
				(void *)sp->period_addr) || period <= 0)
		period = sp->period > 0 ? sp->period : -1;
	if (emit_enter(ctx, MT_OP_ALLOC_SAMPLED, pid_tgid))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(MT_CNT_RB_DROPS);
		return 0;
	}
	fill_hdr(&e->hdr, MT_EV_ALLOC_SAMPLED, MT_OP_MALLOC, pid_tgid);
	e->addr = addr;
	e->size = size;
	e->period = period;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tc_sampled_free, void *span)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct mt_alloc_sampler_proc *sp;
	__u64 addr;

	sp = bpf_map_lookup_elem(&alloc_samplers, &tgid);
	if (!sp || !span)
		return 0;
	addr = tc_span_addr((__u64)span, sp->page_shift);
	if (addr)
		emit_free(addr, MT_OP_FREE, pid_tgid);
	return 0;
}
