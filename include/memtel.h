/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memtel.h - records and constants shared by bpf/memtel.bpf.c and the
 * userspace loader. Everything here is plain __u32/__u64 so the same layout
 * holds on both sides of the ring buffer.
 */
#ifndef MEMTEL_H
#define MEMTEL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Allocator entry points we probe; also the bpf_cookie of each attachment. */
enum mt_op {
	MT_OP_MALLOC = 0,
	MT_OP_CALLOC,
	MT_OP_REALLOC,
	MT_OP_REALLOCARRAY,
	MT_OP_POSIX_MEMALIGN,
	MT_OP_ALIGNED_ALLOC,
	MT_OP_MEMALIGN,
	MT_OP_VALLOC,
	MT_OP_PVALLOC,
	MT_OP_FREE,
	/* C++ operators, where an allocator library defines its own (the
	 * libstdc++ ones call malloc/free and are not probed) */
	MT_OP_NEW,
	MT_OP_NEW_ARRAY,
	MT_OP_NEW_NOTHROW,
	MT_OP_NEW_ARRAY_NOTHROW,
	MT_OP_NEW_ALIGNED,
	MT_OP_NEW_ARRAY_ALIGNED,
	MT_OP_NEW_ALIGNED_NOTHROW,
	MT_OP_NEW_ARRAY_ALIGNED_NOTHROW,
	MT_OP_DELETE,
	MT_OP_DELETE_ARRAY,
	MT_OP_DELETE_SIZED,
	MT_OP_DELETE_ARRAY_SIZED,
	MT_OP_DELETE_NOTHROW,
	MT_OP_DELETE_ARRAY_NOTHROW,
	MT_OP_DELETE_ALIGNED,
	MT_OP_DELETE_ARRAY_ALIGNED,
	MT_OP_DELETE_SIZED_ALIGNED,
	MT_OP_DELETE_ARRAY_SIZED_ALIGNED,
	MT_OP_DELETE_ALIGNED_NOTHROW,
	MT_OP_DELETE_ARRAY_ALIGNED_NOTHROW,
	/* jemalloc's non-standard API */
	MT_OP_MALLOCX,		/* (size, flags) */
	MT_OP_RALLOCX,		/* (ptr, size, flags): moves like realloc */
	MT_OP_XALLOCX,		/* (ptr, size, extra, flags): in place,
				 * returns the resulting usable size */
	MT_OP_SDALLOCX,		/* (ptr, size, flags): a free */
	MT_OP_DALLOCX,		/* (ptr, flags): a free */
	/* C23 */
	MT_OP_FREE_SIZED,
	MT_OP_FREE_ALIGNED_SIZED,
	MT_OP__COUNT,
};

enum mt_event_type {
	/* sampled allocation entered: registers + stack copy, no address yet */
	MT_EV_ALLOC_ENTER = 1,
	/* allocation returned: address (0 on failure); pairs with the last
	 * ENTER of the same tid */
	MT_EV_ALLOC_RET = 2,
	/* a sampled block was freed (free, or the free half of realloc) */
	MT_EV_FREE = 3,
	/* a CPU sample from the perf-event program */
	MT_EV_CPU_SAMPLE = 4,
	/* a tracked process forked a new process (not a thread), which the
	 * kernel already added to the target set: attach its heap probes */
	MT_EV_PROC_FORK = 5,
	/* a tracked process exec'd a new image: re-resolve its allocator */
	MT_EV_PROC_EXEC = 6,
	/* a Go allocation the runtime sampled (struct mt_go_alloc); follows
	 * the ALLOC_ENTER (op MT_OP_GO_MALLOC) of the same tid */
	MT_EV_GO_ALLOC = 7,
};

/* x86-64 DWARF register numbering, as libdwfl expects it. */
enum mt_dwarf_reg {
	MT_REG_RAX = 0, MT_REG_RDX, MT_REG_RCX, MT_REG_RBX, MT_REG_RSI,
	MT_REG_RDI, MT_REG_RBP, MT_REG_RSP, MT_REG_R8, MT_REG_R9, MT_REG_R10,
	MT_REG_R11, MT_REG_R12, MT_REG_R13, MT_REG_R14, MT_REG_R15, MT_REG_RIP,
	MT_NREGS,
};

#ifndef MT_MAX_STACK_BYTES
/* Upper bound of the user stack window copied per sampled event. */
#define MT_MAX_STACK_BYTES 16384
#endif
#ifndef MT_SAMPLE_TABLE_SIZE
/* Entries of the table of exponential sampling intervals (power of 2). */
#define MT_SAMPLE_TABLE_SIZE 4096
#endif

/* Common header of every ring-buffer record. */
struct mt_event_hdr {
	__u32 type;	/* enum mt_event_type */
	__u32 op;	/* enum mt_op */
	__u32 pid;	/* tgid */
	__u32 tid;
	__u64 ktime_ns;	/* CLOCK_MONOTONIC (a sampled call's: its entry);
			 * 0 in MT_EV_FREE, which nothing times: reading
			 * the clock was a fifth of a free probe's cost */
};

/* Sent only for sampled calls; the size travels in the matching
 * mt_alloc_ret, which is the record that creates the block. */
struct mt_alloc_enter {
	struct mt_event_hdr hdr;
	__u64 regs[MT_NREGS];	/* user registers at the probe, DWARF order */
	__u32 stack_len;	/* bytes of stack[] that are valid */
	__u32 pad;
	__u8 stack[MT_MAX_STACK_BYTES]; /* copy of [sp, sp + stack_len) */
};

struct mt_alloc_ret {
	struct mt_event_hdr hdr;
	__u64 addr;		/* returned block, 0 if the call failed */
	__u64 size;
};

struct mt_free {
	struct mt_event_hdr hdr;
	__u64 addr;
};

#ifndef MT_MAX_KSTACK
#define MT_MAX_KSTACK 64
#endif
#ifndef MT_COMM_LEN
#define MT_COMM_LEN 16
#endif

#ifndef MT_MAX_URET
/* uretprobe-hijacked return addresses reported per CPU sample */
#define MT_MAX_URET 8
#endif

struct mt_cpu_sample {
	struct mt_event_hdr hdr;
	__u64 regs[MT_NREGS];	/* user registers (all 0 for kernel threads) */
	__u64 kstack[MT_MAX_KSTACK]; /* kernel frames, leaf first */
	__u32 nr_kstack;
	__u32 user;		/* 1 if the thread has a user context */
	/* return addresses replaced by the uretprobe trampoline (a sampled
	 * allocator call in progress): stack slot and original value */
	__u32 nr_uret;
	__u32 pad2;
	__u64 uret_slot[MT_MAX_URET];
	__u64 uret_orig[MT_MAX_URET];
	char comm[MT_COMM_LEN];	/* thread name */
	__u32 stack_len;
	__u32 pad;
	__u8 stack[MT_MAX_STACK_BYTES];
};

/* MT_EV_PROC_FORK / MT_EV_PROC_EXEC / MT_EV_PROC_IMAGE: hdr.pid is the new
 * (or exec'ing) process, ppid its parent's tgid (0 for an exec). */
struct mt_proc_event {
	struct mt_event_hdr hdr;
	__u32 ppid;
	__u32 pad;
};

#ifndef MT_MAX_TARGETS
/* Default size of the BPF target set (tgids); userspace may resize it. */
#define MT_MAX_TARGETS 1024
#endif

/* The `targets` map's value: what the heap programs count per process.
 * hits is every heap probe invocation (entry, return, free; uprobes,
 * uretprobes, session halves, Go and USDT programs) for that tgid, added
 * atomically; src/model/overhead.c turns it into a cost estimate. */
struct mt_target {
	__u64 hits;
};

/* Per-CPU state of the byte sampler (the `samplers` map's value): BPF
 * counts down, userspace seeds `remaining` before attach and sums the
 * call counts at exit. */
struct mt_sampler {
	__s64 remaining;	/* bytes until the next sample point */
	__u64 calls;		/* allocation calls seen */
	__u64 sampled;		/* of which sampled */
};

/* Counters the BPF side keeps (per-CPU array indices); reported at exit.
 * Calls seen and sampled live in struct mt_sampler. */
enum mt_counter {
	MT_CNT_RB_DROPS = 0,	/* failed ring-buffer reservations */
	MT_CNT_LIVE_FULL,	/* live-block map full */
	MT_CNT_TID_FULL,	/* per-thread state not allocated (ENOMEM) */
	MT_CNT_STACK_FAIL,	/* user stack copy failed */
	MT_CNT_CPU_SAMPLES,	/* perf-event samples taken (before filter) */
	MT_CNT_STACK_SHORT,	/* stack window cut short: ring buffer busy */
	MT_CNT_TARGETS_FULL,	/* a child not tracked: target set full */
	MT_CNT_PROC_DROPS,	/* fork/exec notices lost: ring buffer full */
	MT_CNT_UNW_FALLBACK,	/* BPF unwind failed: raw window sent */
	MT_CNT_UNW_STACKS_FULL,	/* ustacks map full: raw window sent */
	MT_CNT__COUNT,
};

/* The Go runtime's own sampled heap (src/attach/golang.c): not allocator
 * entry points, so outside the probe-plan table (>= MT_OP__COUNT). */
#define MT_OP_GO_MALLOC 64	/* runtime.mProf_Malloc(p, size) */
#define MT_OP_GO_FREE 65	/* runtime.freeSpecial of a profile record */

/* Sent by go_malloc after the ENTER record: one allocation the Go runtime
 * sampled at its own rate (runtime.MemProfileRate, read at the sample). */
struct mt_go_alloc {
	struct mt_event_hdr hdr;
	__u64 addr;
	__u64 size;		/* rounded to the size class, as Go reports */
	__s64 rate;		/* runtime.MemProfileRate, or -1 if unreadable */
};

/* go_procs' value: what the Go programs need per process. */
struct mt_go_proc {
	__u64 rate_addr;	/* &runtime.MemProfileRate */
	__u64 cgo_ret;		/* return address of asmcgocall's call of the
				 * C function on the system stack, or 0 */
};

/* Sent just before the ENTER of a sampled C allocation made through cgo:
 * a copy of the calling goroutine's stack from where asmcgocall left it
 * ([sp] is the return address into runtime.cgocall), so the unwinder can
 * continue into the Go callers. */
#define MT_EV_GO_CGO_STACK 8
struct mt_go_cgo_stack {
	struct mt_event_hdr hdr;
	__u64 sp;
	__u32 stack_len;
	__u32 pad;
	__u8 stack[MT_MAX_STACK_BYTES];
};

/*
 * Unwinding in BPF (bpf/unwind.bpf.h, tables from src/unwind/cfitable.c,
 * loaded by src/unwind/bpfunwind.c). Userspace turns each file's
 * .eh_frame into rows {pc, CFA rule, rbp rule}; per process, a sorted
 * array of its mapped files; BPF walks the stack from those, stores the
 * pcs once per distinct stack in `ustacks` and, at the call's return,
 * sends MT_EV_ALLOC_STACK_RET (the stack's key with the address and size:
 * one record per sampled call) instead of an ENTER with the registers and
 * stack window followed by a RET.
 */
#define MT_EV_ALLOC_STACK_RET 9

/* Node-wide CPU sampling (--all, the agent): a process outside the target
 * set forked a new process (hdr.pid, which may be a reused pid) or exec'd
 * (ppid 0). What userspace knows of that pid (maps, symbols) is of
 * another image from this point of the stream on. A struct
 * mt_proc_event. */
#define MT_EV_PROC_IMAGE 10

#ifndef MT_UNW_MAX_FRAMES
#define MT_UNW_MAX_FRAMES 127	/* pcs per BPF-unwound stack */
#endif
#ifndef MT_UNW_MAX_MAPS
#define MT_UNW_MAX_MAPS 128	/* mapped files per process (power of 2) */
#endif
#ifndef MT_UNW_MAX_FILES
#define MT_UNW_MAX_FILES 4096	/* files with rows, all processes */
#endif
#ifndef MT_UNW_MAX_ROWS
#define MT_UNW_MAX_ROWS (1U << 20) /* rows of all files (default) */
#endif
#define MT_UNW_ROW_SEARCH 22	/* binary search steps: 2^22 rows */

/* How to compute the CFA of a row (mt_unw_row.cfa). */
enum mt_unw_cfa {
	MT_UNW_CFA_INVALID = 0,	/* no CFI here, or a rule BPF cannot run */
	MT_UNW_CFA_RSP,		/* CFA = rsp + cfa_off */
	MT_UNW_CFA_RBP,		/* CFA = rbp + cfa_off */
	MT_UNW_CFA_STOP,	/* the return address is undefined: outermost */
};

/* Where the caller's rbp is (mt_unw_row.rbp). */
enum mt_unw_rbp {
	MT_UNW_RBP_SAME = 0,	/* unchanged */
	MT_UNW_RBP_SAVED,	/* at CFA + rbp_off */
	MT_UNW_RBP_UNDEF,	/* lost: a CFA from rbp fails further up */
};

/* One row: applies from pc (ELF address of the file) to the next row's.
 * The return address is always at CFA - 8 (anything else is INVALID). */
struct mt_unw_row {
	__u32 pc;
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 cfa;		/* enum mt_unw_cfa */
	__u8 rbp;		/* enum mt_unw_rbp */
};

/* unw_files' value: a file's rows in unw_rows. */
struct mt_unw_file {
	__u32 first;
	__u32 count;
};

struct mt_unw_map {
	__u64 start, end;	/* [start, end) in the process */
	__u64 bias;		/* ELF address = pc - bias */
	__u32 file;		/* index in unw_files */
	__u32 pad;
};

/* unw_procs' value (key: tgid): the process's mapped files, by start. */
struct mt_unw_proc {
	__u64 start_ticks;	/* /proc/PID/stat starttime: a reused pid
				 * (another start) is not this process */
	__u32 n;
	__u32 gen;		/* changes with every update (never 0): BPF's
				 * cache of rows by pc is valid for one gen */
	struct mt_unw_map maps[MT_UNW_MAX_MAPS];
};

struct mt_stack_key {
	__u32 tgid;
	__u32 pad;
	__u64 hash;		/* of the pcs */
};

/* ustacks' value: pcs leaf first, pcs[0] the probed pc, the others
 * return addresses (as unwind__user gives them). */
struct mt_ustack {
	__u32 nr;
	__u32 pad;
	__u64 pcs[MT_UNW_MAX_FRAMES + 1];	/* + 1: a power of 2, so BPF
						 * can bound the index by a mask */
};

/* A sampled allocation whose stack is ustacks[key]: ENTER and RET in one. */
struct mt_alloc_stack_ret {
	struct mt_event_hdr hdr;
	struct mt_stack_key key;
	__u32 nr;
	__u32 pad;
	__u64 addr;		/* returned block, 0 if the call failed */
	__u64 size;
};

#endif /* MEMTEL_H */
