// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * prologue.c - choose where in a function to put a uprobe so the kernel
 * emulates the probed instruction rather than single-stepping it out of line
 * (~28x slower here). Instructions are decoded with capstone; whether the
 * kernel emulates one is decided from its bytes, mirroring
 * branch_setup_xol_ops() and push_setup_xol_ops() in
 * arch/x86/kernel/uprobes.c, erring on the side of "not emulated".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <capstone/capstone.h>

#include "attach/prologue.h"

/* Decode at most this many instructions from the entry. */
#define PROLOGUE_MAX_INSNS 16
/* The longest legal x86 instruction. */
#define X86_MAX_INSN_LEN 15

static bool is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0x26: case 0x2e: case 0x36: case 0x3e:	/* ES CS SS DS */
	case 0x64: case 0x65:				/* FS GS */
	case 0x66: case 0x67:				/* operand/address size */
	case 0xf0: case 0xf2: case 0xf3:		/* LOCK REPNE REP */
		return true;
	default:
		return false;
	}
}

bool prologue__is_emulated(const uint8_t *code, size_t len)
{
	bool nop_ok = true, branch_ok = true;
	size_t i = 0, nlegacy = 0;
	uint8_t rex = 0, op;

	if (!code)
		return false;
	if (len > X86_MAX_INSN_LEN)
		len = X86_MAX_INSN_LEN;

	for (; i < len && is_legacy_prefix(code[i]); i++, nlegacy++) {
		switch (code[i]) {
		case 0x66:
			/* branch_setup_xol_ops() refuses 16-bit branches */
			branch_ok = false;
			break;
		case 0x64: case 0x65: case 0x67:
			break;
		case 0xf2:
			/* BND jmp/jcc/call is fine; REPNE NOP is not a NOP to
			 * newer kernels' insn_is_nop() */
			nop_ok = false;
			break;
		default:
			/* ES/CS/SS/DS and LOCK: uprobes refuse the insn
			 * (is_prefix_bad()); REP NOP is PAUSE to newer kernels,
			 * REP with a branch is left alone to be safe. */
			nop_ok = false;
			branch_ok = false;
			break;
		}
	}
	if (i < len && (code[i] & 0xf0) == 0x40)
		rex = code[i++];
	if (i >= len)
		return false;
	op = code[i];

	/* push_setup_xol_ops(): 0x50-0x57, at most 2 bytes, and the only
	 * prefix allowed is REX.B (0x41) for %r8-%r15. */
	if (op >= 0x50 && op <= 0x57)
		return nlegacy == 0 && (rex == 0 || rex == 0x41);

	/* "prefix* + nop", but REX.B 0x90 is xchg %eax,%r8d. */
	if (op == 0x90)
		return nop_ok && !(rex & 0x01);

	if (!branch_ok)
		return false;
	switch (op) {
	case 0xeb:			/* jmp rel8 */
		return i + 2 <= len;
	case 0xe8:			/* call rel32 */
	case 0xe9:			/* jmp rel32 */
		return i + 5 <= len;
	case 0x0f:			/* jcc rel32 */
		return i + 6 <= len && code[i + 1] >= 0x80 &&
		       code[i + 1] <= 0x8f;
	default:
		if (op >= 0x70 && op <= 0x7f)	/* jcc rel8 */
			return i + 2 <= len;
		return false;
	}
}

/* enum prologue_arg bit for a (sub)register of an argument register. */
static unsigned int reg_arg_mask(unsigned int reg)
{
	switch (reg) {
	case X86_REG_RDI: case X86_REG_EDI: case X86_REG_DI: case X86_REG_DIL:
		return PROLOGUE_ARG_RDI;
	case X86_REG_RSI: case X86_REG_ESI: case X86_REG_SI: case X86_REG_SIL:
		return PROLOGUE_ARG_RSI;
	case X86_REG_RDX: case X86_REG_EDX: case X86_REG_DX: case X86_REG_DL:
	case X86_REG_DH:
		return PROLOGUE_ARG_RDX;
	case X86_REG_RCX: case X86_REG_ECX: case X86_REG_CX: case X86_REG_CL:
	case X86_REG_CH:
		return PROLOGUE_ARG_RCX;
	default:
		return 0;
	}
}

static bool reg_is_sp(unsigned int reg)
{
	return reg == X86_REG_RSP || reg == X86_REG_ESP || reg == X86_REG_SP ||
	       reg == X86_REG_SPL;
}

/* Anything but falling through to the next instruction. */
static bool insn_changes_flow(const cs_insn *insn)
{
	const cs_detail *d = insn->detail;
	uint8_t i;

	for (i = 0; i < d->groups_count; i++) {
		switch (d->groups[i]) {
		case CS_GRP_JUMP:
		case CS_GRP_CALL:
		case CS_GRP_RET:
		case CS_GRP_INT:
		case CS_GRP_IRET:
		case CS_GRP_BRANCH_RELATIVE:
			return true;
		}
	}
	switch (insn->id) {
	case X86_INS_HLT:
	case X86_INS_UD2:
	case X86_INS_UD2B:
	case X86_INS_SYSCALL:
	case X86_INS_SYSENTER:
	case X86_INS_INT3:
	case X86_INS_XBEGIN:
	case X86_INS_XABORT:
		return true;
	default:
		return false;
	}
}

/* `test rdi,rdi`, `test edi,edi` or `cmp rdi,0`: the NULL check of arg1. */
static bool insn_is_null_test(const cs_insn *insn)
{
	const cs_x86 *x = &insn->detail->x86;

	if (x->op_count != 2 || x->operands[0].type != X86_OP_REG)
		return false;
	if (x->operands[0].reg != X86_REG_RDI &&
	    x->operands[0].reg != X86_REG_EDI)
		return false;
	if (insn->id == X86_INS_TEST)
		return x->operands[1].type == X86_OP_REG &&
		       x->operands[1].reg == x->operands[0].reg;
	if (insn->id == X86_INS_CMP)
		return x->operands[1].type == X86_OP_IMM &&
		       x->operands[1].imm == 0;
	return false;
}

/* snprintf that may truncate on purpose (log text only). */
__attribute__((format(printf, 3, 4)))
static void msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static void insn_text(const cs_insn *insn, char *buf, size_t len)
{
	msg(buf, len, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "",
	    insn->op_str);
}

int prologue__plan(const uint8_t *code, size_t len, uint64_t addr,
		   const struct prologue_req *req, struct prologue_plan *out)
{
	char stop[96] = "", first[sizeof(out->insn)] = "(bad)";
	bool null_test = false, skipped = false;
	const uint8_t *p = code;
	cs_insn *insn = NULL;
	uint64_t pc = addr;
	size_t left = len;
	int n, err = 0;
	csh h;

	if (!code || !len || !req || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	if (cs_option(h, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
		err = -ENOTSUP;
		goto cleanup;
	}
	insn = cs_malloc(h);
	if (!insn) {
		err = -ENOMEM;
		goto cleanup;
	}

	for (n = 0; n < PROLOGUE_MAX_INSNS; n++) {
		uint8_t nread, nwrite, i;
		cs_regs rd, wr;
		uint64_t off;
		char text[sizeof(out->insn)];

		off = pc - addr;
		if (!left) {
			msg(stop, sizeof(stop),
			    "no emulated insn in the %zu bytes given", len);
			break;
		}
		if (!cs_disasm_iter(h, &p, &left, &pc, insn)) {
			msg(stop, sizeof(stop), "cannot decode at +%llu",
			    (unsigned long long)off);
			break;
		}
		insn_text(insn, text, sizeof(text));
		if (n == 0)
			msg(first, sizeof(first), "%s", text);

		/* The probe fires before the candidate executes, so what the
		 * candidate itself does (push, branch) does not matter. */
		if (prologue__is_emulated(code + off, insn->size)) {
			out->offset = off;
			out->emulated = true;
			msg(out->insn, sizeof(out->insn), "%s", text);
			if (off == 0)
				msg(out->why, sizeof(out->why),
				    "entry insn is emulated");
			else
				msg(out->why, sizeof(out->why),
				    "first emulated insn; %d straight-line insn(s) before it%s",
				    n, skipped ?
				    ", stepping over the NULL no-op check" : "");
			goto cleanup;
		}

		if (insn_changes_flow(insn)) {
			/* free(NULL) returns at once: a probe after the NULL
			 * check misses only calls that do nothing. */
			if (req->null_is_noop && null_test && !skipped &&
			    insn->id == X86_INS_JE) {
				skipped = true;
				null_test = false;
				continue;
			}
			msg(stop, sizeof(stop), "%s at +%llu changes control flow",
			    text, (unsigned long long)off);
			break;
		}

		if (cs_regs_access(h, insn, rd, &nread, wr, &nwrite) != CS_ERR_OK) {
			msg(stop, sizeof(stop), "no register info for %s", text);
			break;
		}
		for (i = 0; i < nwrite; i++) {
			if (reg_arg_mask(wr[i]) & req->args) {
				msg(stop, sizeof(stop),
				    "%s at +%llu writes argument %s", text,
				    (unsigned long long)off,
				    cs_reg_name(h, wr[i]));
				break;
			}
			if (req->need_ret && reg_is_sp(wr[i])) {
				msg(stop, sizeof(stop),
				    "%s at +%llu moves rsp before the uretprobe",
				    text, (unsigned long long)off);
				break;
			}
		}
		if (i < nwrite)
			break;
		null_test = insn_is_null_test(insn);
	}
	if (!stop[0])
		msg(stop, sizeof(stop), "no emulated insn in the first %d",
		    PROLOGUE_MAX_INSNS);

	/* Fallback: the entry is always correct, only possibly slower. */
	out->offset = 0;
	out->emulated = prologue__is_emulated(code, len);
	msg(out->insn, sizeof(out->insn), "%s", first);
	msg(out->why, sizeof(out->why), "entry (%s)", stop);

cleanup:
	if (insn)
		cs_free(insn, 1);
	cs_close(&h);
	return err;
}
