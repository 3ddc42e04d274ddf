// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unwind.c - CFI unwinding of copied user stacks with libdwfl.
 *
 * The target's Dwfl is attached once (dwfl_attach_state) with callbacks that
 * read the current sample: set_initial_registers hands over the sampled
 * registers, memory_read serves words from the copied stack window and
 * fails outside it, which ends the walk. Modules and their CFI stay cached
 * across samples.
 *
 * Before libdwfl, a walk runs on the files' CFI as compact rows (cfitable,
 * the ones the BPF unwinder runs): a binary search per frame instead of
 * libdwfl's CFI interpretation. A file's rows are built once enough walks
 * stopped at it for lack of them (see UNW_TAB_FDES_PER_WALK: a binary seen
 * in passing does not pay for its table) and serve every process mapping
 * the file, at most UNW_TAB_MAX_ROWS rows in all (the least recently used
 * file's rows go first). A file without .eh_frame (a Go binary) gets its
 * rows from .debug_frame, which is where libdwfl would read its CFI (by
 * opening, and decompressing, all of the file's DWARF in every process).
 * A walk the rows cannot finish (a pc outside every module, a file
 * without rows yet, a rule the rows cannot express) is done again by
 * libdwfl from the start, so such a stack is libdwfl's own.
 * MEMTEL_UNWIND_TABLES=0 turns the rows off.
 */
#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "unwind/cfitable.h"
#include "unwind/unwind.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/table.h"

struct unwind_ctx {
	const struct unwind_fixups *fix;
	const uint64_t *regs;
	const uint8_t *stack;
	size_t stack_len;
	uint64_t *pcs;
	size_t n, max;
};

static pid_t cb_next_thread(Dwfl *dwfl, void *dwfl_arg, void **thread_argp)
{
	(void)dwfl;
	(void)dwfl_arg;
	(void)thread_argp;
	return 0;	/* we never enumerate threads */
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *dwfl_arg,
			  void **thread_argp)
{
	(void)dwfl;
	(void)tid;
	*thread_argp = dwfl_arg;
	return true;
}

/* The word at addr of the sample's stack copy, with the uretprobe
 * fixups applied; false outside the copy (which ends a walk). */
static bool stack_word(const struct unwind_ctx *c, uint64_t addr,
		       uint64_t *result)
{
	uint64_t sp = c->regs[MT_REG_RSP];
	size_t i;

	if (addr < sp || addr + sizeof(*result) > sp + c->stack_len ||
	    addr + sizeof(*result) < addr)
		return false;
	memcpy(result, c->stack + (addr - sp), sizeof(*result));
	for (i = 0; c->fix && i < c->fix->n; i++)
		if (c->fix->slot[i] == addr) {
			*result = c->fix->orig[i];
			break;
		}
	return true;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result,
			   void *dwfl_arg)
{
	struct unwind_ctx *c = target__unwind_ctx(dwfl_arg);
	uint64_t w;

	(void)dwfl;
	if (!c || !stack_word(c, addr, &w))
		return false;
	*result = w;
	return true;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *thread_arg)
{
	struct unwind_ctx *c = target__unwind_ctx(thread_arg);
	Dwarf_Word regs[MT_NREGS];
	int i;

	if (!c)
		return false;
	for (i = 0; i < MT_NREGS; i++)
		regs[i] = c->regs[i];
	/* DWARF 0-15 are the GPRs, 16 the return address column (rip) */
	if (!dwfl_thread_state_registers(thread, 0, MT_REG_RIP, regs))
		return false;
	dwfl_thread_state_register_pc(thread, regs[MT_REG_RIP]);
	return true;
}

static const Dwfl_Thread_Callbacks unwind_callbacks = {
	.next_thread = cb_next_thread,
	.get_thread = cb_get_thread,
	.memory_read = cb_memory_read,
	.set_initial_registers = cb_set_initial_registers,
};

static int cb_frame(Dwfl_Frame *state, void *arg)
{
	struct unwind_ctx *c = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (!pc)
		return DWARF_CB_ABORT;
	c->pcs[c->n++] = pc;
	return c->n < c->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/*
 * CFI gave nothing past the probed function (musl's libc has none): at an
 * entry probe nothing is pushed yet, so the caller's frame is exactly the
 * sampled registers with rip = [rsp] and rsp + 8, and every callee-saved
 * register still holds the caller's value. Walk again from there, with the
 * caller's own CFI. Fills c->pcs[1...]; returns the number of pcs.
 */
static int resume_at_caller(struct target *t, pid_t tid, struct unwind_ctx *c)
{
	uint64_t regs[MT_NREGS], ra;
	struct unwind_ctx cc;

	c->pcs[0] = c->regs[MT_REG_RIP];
	c->n = 1;
	if (c->stack_len < 16 || c->max < 2)
		return (int)c->n;
	memcpy(&ra, c->stack, sizeof(ra));
	if (!ra)
		return (int)c->n;
	memcpy(regs, c->regs, sizeof(regs));
	regs[MT_REG_RIP] = ra;
	regs[MT_REG_RSP] += 8;
	cc = *c;
	cc.regs = regs;
	cc.stack = c->stack + 8;
	cc.stack_len = c->stack_len - 8;
	cc.pcs = c->pcs + 1;
	cc.max = c->max - 1;
	cc.n = 0;
	target__set_unwind_ctx(t, &cc);
	(void)dwfl_getthread_frames(target__dwfl(t), tid, cb_frame, &cc);
	target__set_unwind_ctx(t, NULL);
	if (cc.n == 0)
		cc.pcs[cc.n++] = ra;
	c->n = 1 + cc.n;
	return (int)c->n;
}

/* The rows of the files walks went through, by file identity. Building a
 * file's rows costs ~3 us per FDE (libc: 3.7k FDEs, 12 ms; python3.11:
 * 10k, 29 ms; g++'s cc1plus: 49k, 517k rows, 350 ms) and a libdwfl walk
 * ~50 us, so a file's rows are built once UNW_TAB_FDES_PER_WALK FDEs'
 * worth of walks stopped at it for lack of them (the build then costs
 * about what those walks cost): a binary seen in passing never pays for
 * them. A file of fewer than UNW_TAB_FDES_PER_WALK FDEs (the vdso, small
 * tools) is built at its first walk, which is what one libdwfl walk
 * costs. A file whose rows come from .debug_frame (Go) is built at its
 * first walk too: there libdwfl opens and decompresses the file's whole
 * DWARF in every new process (~9 ms for a 2 MB Go binary), more than
 * the rows cost once (~3 us per FDE). A file with more FDEs than
 * UNW_TAB_FILE_FDES, or more rows than UNW_TAB_FILE_ROWS, stays with
 * libdwfl. */
#define UNW_TAB_MAX_ROWS (3u << 19)  /* of all files: 18 MiB */
#define UNW_TAB_FILE_ROWS (3u << 18) /* of one file */
#define UNW_TAB_FILE_FDES (1u << 16)
#define UNW_TAB_MAX_FILES 4096	     /* files remembered, then forgotten */
#define UNW_TAB_FDES_PER_WALK 16
#define UNW_TAB_MIN_USES 1

enum { TAB_COUNTING, TAB_BUILT, TAB_NONE };

struct unw_tab {
	uint64_t dev, ino, size;
	struct cfitable rows;
	uint64_t used;		/* tabs.clock at the last walk through it */
	uint64_t uses;		/* walks it stopped while TAB_COUNTING */
	uint64_t need;		/* uses before its rows are built */
	int state;
	bool debug_frame;	/* rows from .debug_frame (no .eh_frame) */
};

static struct {
	pthread_mutex_t lock;
	int enabled;		/* -1: MEMTEL_UNWIND_TABLES not read yet */
	struct unw_tab *v;
	size_t n, cap, rows;
	struct table by_file;
	uint64_t clock;
	struct unwind_stats st;
} tabs = { .lock = PTHREAD_MUTEX_INITIALIZER, .enabled = -1 };

static uint64_t tm_hash(const struct target_module *tm)
{
	return hash__u64(hash__u64(hash__u64(0, tm->dev), tm->ino), tm->size);
}

static bool tab_eq(const void *ctx, size_t idx)
{
	const struct target_module *tm = ctx;
	const struct unw_tab *e = &tabs.v[idx];

	return e->dev == tm->dev && e->ino == tm->ino && e->size == tm->size;
}

static void tabs_forget_all(void)
{
	size_t i;

	for (i = 0; i < tabs.n; i++)
		cfitable__free(&tabs.v[i].rows);
	tabs.n = 0;
	tabs.rows = 0;
	table__clear(&tabs.by_file);
}

/* Drop the least recently used file's rows (it may be built again). */
static bool tabs_evict_one(const struct unw_tab *keep)
{
	struct unw_tab *lru = NULL;
	size_t i;

	for (i = 0; i < tabs.n; i++) {
		struct unw_tab *e = &tabs.v[i];

		if (e->state == TAB_BUILT && e != keep &&
		    (!lru || e->used < lru->used))
			lru = e;
	}
	if (!lru)
		return false;
	tabs.rows -= lru->rows.n;
	cfitable__free(&lru->rows);
	lru->state = TAB_COUNTING;
	lru->uses = 0;	/* rebuilt after as many uses again */
	return true;
}

/* The rows of tm's file (elf is its copy), or NULL: not built yet, none,
 * or no memory. Called with tabs.lock held. */
static const struct cfitable *tab_of(const struct target_module *tm, Elf *elf)
{
	uint64_t h = tm_hash(tm);
	int64_t idx = table__find(&tabs.by_file, h, tab_eq, tm);
	struct unw_tab *e;
	int err;

	if (idx < 0) {
		if (tabs.n >= UNW_TAB_MAX_FILES)
			tabs_forget_all();
		if (tabs.n == tabs.cap) {
			size_t cap = tabs.cap ? tabs.cap * 2 : 64;
			struct unw_tab *nv = realloc(tabs.v, cap * sizeof(*nv));

			if (!nv)
				return NULL;
			tabs.v = nv;
			tabs.cap = cap;
		}
		if (table__add(&tabs.by_file, h, tabs.n))
			return NULL;
		e = &tabs.v[tabs.n++];
		memset(e, 0, sizeof(*e));
		e->dev = tm->dev;
		e->ino = tm->ino;
		e->size = tm->size;
	} else {
		e = &tabs.v[idx];
	}
	e->used = ++tabs.clock;
	if (e->state == TAB_COUNTING && !e->need) {
		size_t fdes = 0;

		err = cfitable__fdes(elf, &fdes);
		if (err == -ENOENT) {
			/* no .eh_frame (Go): libdwfl would open the file's
			 * whole DWARF, per process, for its .debug_frame */
			err = cfitable__debug_frame_fdes(elf, &fdes);
			e->debug_frame = !err;
		}
		if (err || !fdes || fdes > UNW_TAB_FILE_FDES)
			e->state = TAB_NONE;
		e->need = e->debug_frame ? UNW_TAB_MIN_USES :
					   fdes / UNW_TAB_FDES_PER_WALK;
		if (e->need < UNW_TAB_MIN_USES)
			e->need = UNW_TAB_MIN_USES;
	}
	if (e->state == TAB_COUNTING && ++e->uses >= e->need) {
		size_t room;

		while (UNW_TAB_MAX_ROWS - tabs.rows < UNW_TAB_FILE_ROWS &&
		       tabs_evict_one(e))
			;
		room = UNW_TAB_MAX_ROWS - tabs.rows;
		if (room > UNW_TAB_FILE_ROWS)
			room = UNW_TAB_FILE_ROWS;
		err = e->debug_frame ?
		      cfitable__build_debug_frame(elf, room, &e->rows) :
		      cfitable__build(elf, room, &e->rows);
		if (err) {
			e->state = TAB_NONE;
			tabs.st.files_failed++;
			mt_debug("no unwind rows for %s: %s", tm->display,
				 strerror(-err));
		} else {
			e->state = TAB_BUILT;
			tabs.rows += e->rows.n;
			tabs.st.files++;
		}
	}
	return e->state == TAB_BUILT ? &e->rows : NULL;
}

/* The row for lookup address addr of target t. *end is set when the
 * row is none or INVALID but the stack ends there: addr is in a file
 * whose rows come from .debug_frame (Go) and has no rule for it (the
 * runtime's assembly, its system stack's bottom, or a return address
 * read past a stack switch that points into the binary's data). libdwfl
 * would open the whole DWARF of the process's binary for a frame-pointer
 * guess past it, per process (~7 ms each time). */
static const struct mt_unw_row *row_of(struct target *t, uint64_t addr,
				       bool *end)
{
	const struct target_module *tm;
	const struct mt_unw_row *r;
	const struct cfitable *ct;
	Dwarf_Addr bias;
	Dwfl_Module *mod;
	void **ud;
	Elf *elf;

	mod = dwfl_addrmodule(target__dwfl(t), addr);
	if (!mod || !(elf = dwfl_module_getelf(mod, &bias)))
		return NULL;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	tm = ud ? *ud : NULL;
	if (!tm || addr - bias > UINT32_MAX)
		return NULL;
	ct = tab_of(tm, elf);
	if (!ct)
		return NULL;
	r = cfitable__find(ct, addr - bias);
	if ((!r || r->cfa == MT_UNW_CFA_INVALID) &&
	    ((const struct unw_tab *)((const char *)ct -
			offsetof(struct unw_tab, rows)))->debug_frame)
		*end = true;
	return r;
}

/* The walk on rows, as bpf/unwind.bpf.h does it, but on the copied window:
 * a read past the window ends the stack there (as it ends libdwfl's). The
 * number of pcs, or -1 when libdwfl must do the walk. tabs.lock held. */
static int table_walk(struct target *t, struct unwind_ctx *c)
{
	uint64_t pc = c->regs[MT_REG_RIP], sp = c->regs[MT_REG_RSP];
	uint64_t bp = c->regs[MT_REG_RBP], cfa, ra, v;
	const struct mt_unw_row *r;
	bool bp_ok = true;

	for (c->n = 0; c->n < c->max;) {
		/* a return address is looked up at the call: pc - 1 */
		bool end = false;

		r = row_of(t, pc - (c->n ? 1 : 0), &end);
		if (end && c->n) {
			/* a pc in a gap between FDEs (INVALID) is no code */
			if (!r)
				c->pcs[c->n++] = pc;
			return (int)c->n;
		}
		if (!r)
			return -1;
		switch (r->cfa) {
		case MT_UNW_CFA_STOP:
			c->pcs[c->n++] = pc;
			return (int)c->n;
		case MT_UNW_CFA_RSP:
			cfa = sp + (int64_t)r->cfa_off;
			break;
		case MT_UNW_CFA_RBP:
			if (!bp_ok)
				return -1;
			cfa = bp + (int64_t)r->cfa_off;
			break;
		default:
			return -1;
		}
		c->pcs[c->n++] = pc;
		if (!stack_word(c, cfa - 8, &ra) || !ra)
			break;
		if (r->rbp == MT_UNW_RBP_SAVED) {
			/* libdwfl leaves a register it cannot read undefined */
			if (stack_word(c, cfa + r->rbp_off, &v))
				bp = v;
			else
				bp_ok = false;
		} else if (r->rbp == MT_UNW_RBP_UNDEF) {
			bp_ok = false;
		}
		pc = ra;
		sp = cfa;
	}
	return (int)c->n;
}

/* The walk on rows, 0 pcs if libdwfl must do it. */
static int try_tables(struct target *t, struct unwind_ctx *c, int ret_at_sp)
{
	int n = 0;

	pthread_mutex_lock(&tabs.lock);
	if (tabs.enabled < 0) {
		const char *e = getenv("MEMTEL_UNWIND_TABLES");

		tabs.enabled = !e || strcmp(e, "0");
	}
	if (!tabs.enabled)
		goto cleanup;
	n = table_walk(t, c);
	/* a lone frame at an entry probe: libdwfl's path resumes at the
	 * caller (resume_at_caller) */
	if (n == 1 && ret_at_sp)
		n = -1;
	if (n > 0)
		tabs.st.walks++;
	else
		tabs.st.fallbacks++;
	c->n = 0;
cleanup:
	pthread_mutex_unlock(&tabs.lock);
	return n > 0 ? n : 0;
}

void unwind__use_tables(bool on)
{
	pthread_mutex_lock(&tabs.lock);
	tabs.enabled = on;
	pthread_mutex_unlock(&tabs.lock);
}

void unwind__stats(struct unwind_stats *out)
{
	pthread_mutex_lock(&tabs.lock);
	*out = tabs.st;
	out->rows = tabs.rows;
	pthread_mutex_unlock(&tabs.lock);
}

void unwind__tables_free(void)
{
	pthread_mutex_lock(&tabs.lock);
	tabs_forget_all();
	table__free(&tabs.by_file);
	free(tabs.v);
	tabs.v = NULL;
	tabs.cap = 0;
	pthread_mutex_unlock(&tabs.lock);
}

int unwind__user(struct target *t, pid_t tid, const uint64_t *regs,
		 const uint8_t *stack, size_t stack_len, int ret_at_sp,
		 uint64_t *pcs, size_t max)
{
	return unwind__user_fixed(t, tid, regs, stack, stack_len, ret_at_sp,
				  NULL, pcs, max);
}

int unwind__user_fixed(struct target *t, pid_t tid, const uint64_t *regs,
		       const uint8_t *stack, size_t stack_len, int ret_at_sp,
		       const struct unwind_fixups *fix, uint64_t *pcs,
		       size_t max)
{
	struct unwind_ctx c = {
		.fix = fix, .regs = regs, .stack = stack,
		.stack_len = stack_len, .pcs = pcs, .max = max,
	};
	Dwfl *dwfl = target__dwfl(t);
	int n;

	if (!max)
		return -EINVAL;
	n = try_tables(t, &c, ret_at_sp);
	if (n > 0)
		return n;
	if (!target__unwind_attached(t)) {
		if (!dwfl_attach_state(dwfl, NULL, target__pid(t),
				       &unwind_callbacks, t)) {
			mt_debug("dwfl_attach_state: %s", dwfl_errmsg(-1));
			goto fallback;
		}
		target__set_unwind_attached(t);
	}
	target__set_unwind_ctx(t, &c);
	/* A failure return just means the walk ended early: keep what we
	 * got. */
	(void)dwfl_getthread_frames(dwfl, tid, cb_frame, &c);
	target__set_unwind_ctx(t, NULL);
	if (c.n <= 1 && ret_at_sp)
		return resume_at_caller(t, tid, &c);
	return (int)c.n;
fallback:
	if (c.n == 0)
		pcs[c.n++] = regs[MT_REG_RIP];
	if (c.n == 1 && ret_at_sp && stack_len >= 8 && max > 1) {
		uint64_t ra;

		memcpy(&ra, stack, sizeof(ra));
		if (ra)
			pcs[c.n++] = ra;
	}
	return (int)c.n;
}
