// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * unwind.c - CFI unwinding of copied user stacks with libdwfl.
 *
 * The target's Dwfl is attached once (dwfl_attach_state) with callbacks that
 * read the current sample: set_initial_registers hands over the sampled
 * registers, memory_read serves words from the copied stack window and
 * fails outside it, which ends the walk. Modules and their CFI stay cached
 * across samples.
 */
#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "unwind/unwind.h"

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

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result,
			   void *dwfl_arg)
{
	struct unwind_ctx *c = target__unwind_ctx(dwfl_arg);
	uint64_t sp;

	(void)dwfl;
	if (!c)
		return false;
	sp = c->regs[MT_REG_RSP];
	if (addr < sp || addr + sizeof(*result) > sp + c->stack_len ||
	    addr + sizeof(*result) < addr)
		return false;
	memcpy(result, c->stack + (addr - sp), sizeof(*result));
	if (c->fix) {
		size_t i;

		for (i = 0; i < c->fix->n; i++)
			if (c->fix->slot[i] == addr) {
				*result = c->fix->orig[i];
				break;
			}
	}
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

	if (!max)
		return -EINVAL;
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
