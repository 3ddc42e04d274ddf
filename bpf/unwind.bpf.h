/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind.bpf.h - walk a user stack in BPF from compact CFI tables, the way
 * the OpenTelemetry eBPF profiler and Parca do, so a sampled allocation
 * sends a stack key instead of registers and an 8 KiB stack window.
 *
 * Userspace (src/unwind/cfitable.c, bpfunwind.c) turns each mapped file's
 * .eh_frame into rows {pc, CFA = rsp|rbp + off, rbp saved at CFA + off or
 * unchanged} in unw_rows, gives each file its (first, count) in unw_files
 * and each process a sorted array of its mapped files in unw_procs. The
 * walk finds a pc's mapping and row by binary search, computes the CFA,
 * reads the return address at CFA - 8 and the caller's rbp if saved. It
 * ends at a row whose return address is undefined (_start, clone3's
 * thread start) or a zero return address. Anything else (a pc in no
 * table, a rule the rows cannot express) fails the walk, and the caller
 * sends today's raw window instead, so nothing gets worse. Distinct stacks
 * go once into ustacks, keyed by (tgid, hash of the pcs).
 *
 * Included by memtel.bpf.c after its maps and count().
 */
#ifndef MEMTEL_UNWIND_BPF_H
#define MEMTEL_UNWIND_BPF_H

#ifndef ENOENT
#define ENOENT 2
#define EINVAL 22
#define EEXIST 17
#define ENOSPC 28
#endif

const volatile bool bpf_unwind = false;		/* tables are loaded */
const volatile __u64 ns_per_tick = 10000000;	/* 1e9 / USER_HZ */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MT_UNW_MAX_ROWS);
	__type(key, __u32);
	__type(value, struct mt_unw_row);
} unw_rows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MT_UNW_MAX_FILES);
	__type(key, __u32);
	__type(value, struct mt_unw_file);
} unw_files SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MT_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct mt_unw_proc);
} unw_procs SEC(".maps");

/* Distinct stacks: allocated as used (a full preallocated map would be
 * 64 MiB); a full map is counted and the event goes raw. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct mt_stack_key);
	__type(value, struct mt_ustack);
} ustacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_ustack);
} unw_scratch SEC(".maps");

/* Rows by lookup address, per CPU, direct-mapped: most walks go through
 * the same few dozen pcs, and a hit saves both binary searches. An entry
 * holds for one process's tables (gen), whose update changes gen. */
#define UNW_CACHE_SIZE 4096

struct unw_cache_ent {
	__u64 addr;		/* pc looked up (a return address - 1) */
	__u32 tgid;
	__u32 gen;
	struct mt_unw_row row;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_CACHE_SIZE);
	__type(key, __u32);
	__type(value, struct unw_cache_ent);
} unw_cache SEC(".maps");

/*
 * Whole walks, per CPU, direct-mapped by (pc, sp): a loop allocating from
 * one call site walks the same stack every time. A walk is a function of
 * its start (pc, sp, and rbp if a CFA was computed from the rbp it started
 * with), the process's tables (gen) and the words it read; an entry keeps
 * those words (at most UNW_SC_SLOTS, all within UNW_SC_SPAN bytes above
 * sp) and a hit re-reads them in one bpf_probe_read_user and compares,
 * so the key it gives is the one the walk would give. A miss walks and
 * refills the entry.
 */
#define UNW_SC_SIZE 512
#define UNW_SC_SLOTS 32
#define UNW_SC_SPAN 2048	/* bytes: word indices fit a __u8 */

struct unw_sc_ent {
	__u64 pc, sp, bp;
	__u64 hash;
	__u32 tgid;
	__u32 gen;
	__u32 nr;		/* 0: empty (or being filled) */
	__u32 span;		/* bytes from sp the words lie in */
	__u8 nslots;
	__u8 bp_dep;		/* the walk used the rbp it started with */
	__u8 idx[UNW_SC_SLOTS];	/* word index from sp */
	__u8 pad[6];
	__u64 val[UNW_SC_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNW_SC_SIZE);
	__type(key, __u32);
	__type(value, struct unw_sc_ent);
} unw_sc SEC(".maps");

struct unw_sc_buf {
	__u64 w[UNW_SC_SPAN / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unw_sc_buf);
} unw_sc_buf SEC(".maps");

struct unw_walk {
	const struct mt_unw_proc *proc;
	struct mt_ustack *st;
	struct unw_sc_ent *sc;	/* being filled, or NULL */
	__u64 pc, sp, bp;
	__u64 sp0;
	__u64 hash;
	__u32 tgid;
	bool bp_ok;
	bool bp_init;		/* bp is the one the walk began with */
	bool bp_dep;
	bool sc_off;		/* too many words, or too far: not cached */
	int state;		/* 0 walking, 1 done, -1 failed */
};

/* The mapping holding pc, or NULL. */
static __always_inline const struct mt_unw_map *
unw_find_map(const struct mt_unw_proc *p, __u64 pc)
{
	__u32 lo = 0, hi = p->n, mid, i;
	const struct mt_unw_map *m;

	if (hi > MT_UNW_MAX_MAPS)
		hi = MT_UNW_MAX_MAPS;
	if (!hi)
		return NULL;
	/* last mapping whose start is <= pc */
	for (i = 0; i < 8 && lo + 1 < hi; i++) {
		mid = (lo + hi) / 2;
		if (p->maps[mid & (MT_UNW_MAX_MAPS - 1)].start <= pc)
			lo = mid;
		else
			hi = mid;
	}
	m = &p->maps[lo & (MT_UNW_MAX_MAPS - 1)];
	if (pc < m->start || pc >= m->end)
		return NULL;
	return m;
}

/* The row of ELF address rel in file, or NULL. */
static __always_inline const struct mt_unw_row *unw_find_row(__u32 file,
							      __u64 rel)
{
	const struct mt_unw_file *f;
	const struct mt_unw_row *r;
	__u32 lo, hi, mid, i;

	f = bpf_map_lookup_elem(&unw_files, &file);
	if (!f || !f->count || rel > 0xffffffffULL)
		return NULL;
	lo = f->first;
	hi = f->first + f->count;
	for (i = 0; i < MT_UNW_ROW_SEARCH && lo + 1 < hi; i++) {
		mid = lo + (hi - lo) / 2;
		r = bpf_map_lookup_elem(&unw_rows, &mid);
		if (!r)
			return NULL;
		if (r->pc <= rel)
			lo = mid;
		else
			hi = mid;
	}
	r = bpf_map_lookup_elem(&unw_rows, &lo);
	if (!r || r->pc > rel)
		return NULL;
	return r;
}

/* The row of pc's lookup address addr, through both binary searches. A
 * global function: the verifier checks it once, on its own, instead of
 * once per path of every walk step into it. 0 or -1. */
__noinline int unw_lookup(const struct mt_unw_proc *p, __u64 pc, __u64 addr,
			  struct mt_unw_row *out)
{
	const struct mt_unw_row *r;
	const struct mt_unw_map *m;

	if (!p || !out)
		return -1;
	m = unw_find_map(p, pc);
	if (!m)
		return -1;
	r = unw_find_row(m->file, addr - m->bias);
	if (!r)
		return -1;
	*out = *r;
	return 0;
}

/* The user word at a. 0 or -1. (One read of a 1 KiB window per walk
 * instead cost ~1.2 us more per walk on our VMs than reading the few words
 * a walk needs one by one.) */
static __always_inline int unw_read(__u64 a, __u64 *out)
{
	return bpf_probe_read_user(out, sizeof(*out), (void *)a) ? -1 : 0;
}

/* Remember a word the walk read, for its cache entry. */
static __always_inline void unw_note(struct unw_walk *w, __u64 a, __u64 v)
{
	struct unw_sc_ent *sc = w->sc;
	__u64 off = a - w->sp0;
	__u32 k;

	if (!sc || w->sc_off)
		return;
	k = sc->nslots;
	if (k >= UNW_SC_SLOTS || off >= UNW_SC_SPAN || (off & 7)) {
		w->sc_off = true;
		return;
	}
	sc->idx[k] = off >> 3;
	sc->val[k] = v;
	sc->nslots = k + 1;
	if (off + 8 > sc->span)
		sc->span = off + 8;
}

static long unw_step(__u32 i, void *ctx)
{
	struct unw_walk *w = ctx;
	struct unw_cache_ent *ce;
	struct mt_unw_row row, *r = &row;
	__u64 cfa, ra = 0, bp = 0, addr;
	__u32 slot, idx;

	if (i >= MT_UNW_MAX_FRAMES)
		return 1;
	/* a return address is looked up at the call: pc - 1 */
	addr = w->pc - (i ? 1 : 0);
	slot = (__u32)(addr ^ (addr >> 12)) & (UNW_CACHE_SIZE - 1);
	ce = bpf_map_lookup_elem(&unw_cache, &slot);
	if (ce && ce->addr == addr && ce->tgid == w->tgid &&
	    ce->gen == w->proc->gen) {
		row = ce->row;
	} else {
		if (unw_lookup(w->proc, w->pc, addr, &row))
			goto fail;
		if (ce) {
			ce->addr = addr;
			ce->tgid = w->tgid;
			ce->gen = w->proc->gen;
			ce->row = row;
		}
	}

	/* hide i's known bound from clang, or it drops the mask the
	 * verifier needs after i was spilled */
	idx = i;
	asm volatile("" : "+r"(idx));
	w->st->pcs[idx & MT_UNW_MAX_FRAMES] = w->pc;
	w->st->nr = i + 1;
	w->hash = (w->hash ^ w->pc) * 0x9e3779b97f4a7c15ULL;
	w->hash ^= w->hash >> 29;

	switch (r->cfa) {
	case MT_UNW_CFA_STOP:
		w->state = 1;
		return 1;
	case MT_UNW_CFA_RSP:
		cfa = w->sp + (__s64)r->cfa_off;
		break;
	case MT_UNW_CFA_RBP:
		if (!w->bp_ok)
			goto fail;
		if (w->bp_init)
			w->bp_dep = true;
		cfa = w->bp + (__s64)r->cfa_off;
		break;
	default:
		goto fail;
	}
	if (unw_read(cfa - 8, &ra))
		goto fail;
	unw_note(w, cfa - 8, ra);
	if (r->rbp == MT_UNW_RBP_SAVED) {
		if (unw_read(cfa + (__s64)r->rbp_off, &bp))
			goto fail;
		unw_note(w, cfa + (__s64)r->rbp_off, bp);
		w->bp = bp;
		w->bp_init = false;
	} else if (r->rbp == MT_UNW_RBP_UNDEF) {
		w->bp_ok = false;
	}
	if (!ra) {
		w->state = 1;
		return 1;
	}
	w->pc = ra;
	w->sp = cfa;
	return 0;
fail:
	w->state = -1;
	return 1;
}

/* 0 if the words an entry's walk read are still there. */
static __always_inline int unw_sc_check(const struct unw_sc_ent *sc,
					__u64 sp)
{
	__u32 zero = 0, len = sc->span, n = sc->nslots, k;
	struct unw_sc_buf *b;

	b = bpf_map_lookup_elem(&unw_sc_buf, &zero);
	if (!b || len < 8 || len > UNW_SC_SPAN || n > UNW_SC_SLOTS)
		return -1;
	if (bpf_probe_read_user(b, len, (void *)sp))
		return -1;
	for (k = 0; k < UNW_SC_SLOTS; k++) {
		if (k >= n)
			break;
		if (b->w[sc->idx[k] & (UNW_SC_SPAN / 8 - 1)] != sc->val[k])
			return -1;
	}
	return 0;
}

/*
 * Unwind the current call from regs; on success *key names the stack,
 * stored in ustacks, and *nr is its depth. 0 on success, -ENOENT when the
 * process has no tables (not counted), another -errno when the walk or the
 * store failed (counted).
 */
static __always_inline int unw_stack(struct pt_regs *regs, __u64 pid_tgid,
				     struct mt_stack_key *key, __u32 *nr)
{
	__u32 tgid = pid_tgid >> 32, zero = 0, sc_slot;
	struct task_struct *task;
	__u64 boot, lo;
	struct unw_walk w = {};
	long err;

	if (!bpf_unwind)
		return -ENOENT;
	w.proc = bpf_map_lookup_elem(&unw_procs, &tgid);
	if (!w.proc)
		return -ENOENT;
	/* the pid was reused: not its tables. start_boottime / ns_per_tick
	 * == start_ticks, without a 64-bit division per call */
	task = bpf_get_current_task_btf();
	boot = task->group_leader->start_boottime;
	lo = w.proc->start_ticks * ns_per_tick;
	if (boot < lo || boot - lo >= ns_per_tick)
		return -ENOENT;
	/* a uprobe's ctx is the trapped user registers: direct loads */
	w.pc = regs->ip;
	w.sp = regs->sp;
	w.bp = regs->bp;
	key->tgid = tgid;
	key->pad = 0;

	sc_slot = (__u32)(w.pc ^ (w.pc >> 9) ^ (w.sp >> 4)) &
		  (UNW_SC_SIZE - 1);
	w.sc = bpf_map_lookup_elem(&unw_sc, &sc_slot);
	if (w.sc && w.sc->nr && w.sc->pc == w.pc && w.sc->sp == w.sp &&
	    w.sc->tgid == tgid && w.sc->gen == w.proc->gen &&
	    (!w.sc->bp_dep || w.sc->bp == w.bp) &&
	    !unw_sc_check(w.sc, w.sp)) {
		/* the stack is in ustacks: an entry is filled only once it
		 * is, and userspace deletes a process's stacks only with its
		 * unw_procs entry (exit, exec), after which a new one has a
		 * new gen */
		key->hash = w.sc->hash;
		*nr = w.sc->nr;
		return 0;
	}

	w.st = bpf_map_lookup_elem(&unw_scratch, &zero);
	if (!w.st)
		return -ENOENT;
	w.st->nr = 0;
	if (w.sc) {
		w.sc->nr = 0;
		w.sc->nslots = 0;
		w.sc->span = 0;
	}
	w.sp0 = w.sp;
	w.bp_ok = true;
	w.bp_init = true;
	w.tgid = tgid;
	w.hash = 0xcbf29ce484222325ULL;
	bpf_loop(MT_UNW_MAX_FRAMES, unw_step, &w, 0);
	/* out of frames is a long stack cut, as the libdwfl path cuts */
	if (w.state < 0 || !w.st->nr) {
		count(MT_CNT_UNW_FALLBACK);
		return -EINVAL;
	}
	key->hash = w.hash;
	*nr = w.st->nr;
	if (!bpf_map_lookup_elem(&ustacks, key)) {
		err = bpf_map_update_elem(&ustacks, key, w.st, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			count(MT_CNT_UNW_STACKS_FULL);
			return -ENOSPC;
		}
	}
	if (w.sc && !w.sc_off && w.state > 0) {
		w.sc->pc = regs->ip;
		w.sc->sp = w.sp0;
		w.sc->bp = regs->bp;
		w.sc->bp_dep = w.bp_dep;
		w.sc->hash = w.hash;
		w.sc->tgid = tgid;
		w.sc->gen = w.proc->gen;
		w.sc->nr = w.st->nr;
	}
	return 0;
}

#endif /* MEMTEL_UNWIND_BPF_H */
