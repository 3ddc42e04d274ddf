// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cfitable.c - compact unwind rows from a file's .eh_frame, for the BPF
 * unwinder (bpf/unwind.bpf.h).
 *
 * The FDEs are enumerated from the binary search table of .eh_frame_hdr
 * (PT_GNU_EH_FRAME: sorted initial locations, datarel sdata4 in every
 * GNU ld, gold and lld output); within an FDE, elfutils interprets the CFA
 * program (dwarf_cfi_addrframe) and dwarf_frame_info gives each row's pc
 * range, so every row boundary is found without decoding .eh_frame here.
 * x86-64 only: the rows track rsp, rbp and the return address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dwarf.h>
#include <elfutils/libdw.h>

#include "unwind/cfitable.h"

#define DW_REG_RBP 6
#define DW_REG_RSP 7
#define DW_REG_RA 16
#define EH_TABLE_DATAREL_SDATA4 0x3b

void cfitable__free(struct cfitable *t)
{
	if (!t)
		return;
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

static int push(struct cfitable *t, size_t *cap, size_t max,
		const struct mt_unw_row *r)
{
	struct mt_unw_row *last = t->n ? &t->rows[t->n - 1] : NULL;
	struct mt_unw_row *nr;

	/* a row that only changes registers we do not track is merged */
	if (last && last->cfa == r->cfa && last->cfa_off == r->cfa_off &&
	    last->rbp == r->rbp && last->rbp_off == r->rbp_off)
		return 0;
	if (t->n >= max)
		return -E2BIG;
	if (t->n == *cap) {
		*cap = *cap ? *cap * 2 : 1024;
		nr = realloc(t->rows, *cap * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		t->rows = nr;
	}
	t->rows[t->n++] = *r;
	if (r->cfa == MT_UNW_CFA_INVALID)
		t->invalid++;
	return 0;
}

/* Offset N of a "saved at CFA + N" rule, as elfutils spells it:
 * DW_OP_call_frame_cfa [DW_OP_plus_uconst N]. */
static bool cfa_relative(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
	if (nops < 1 || nops > 2 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (nops == 1) {
		*off = 0;
		return true;
	}
	if (ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

static void convert(Dwarf_Frame *fr, bool signal, struct mt_unw_row *r)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	int64_t off;

	r->cfa = MT_UNW_CFA_INVALID;
	r->cfa_off = 0;
	r->rbp = MT_UNW_RBP_UNDEF;
	r->rbp_off = 0;
	if (signal)
		return;

	/* the return address: undefined marks the outermost frame */
	if (dwarf_frame_register(fr, DW_REG_RA, mem, &ops, &nops))
		return;
	if (nops == 0 && ops == mem) {
		r->cfa = MT_UNW_CFA_STOP;
		return;
	}
	if (!cfa_relative(ops, nops, &off) || off != -8)
		return;

	if (dwarf_frame_cfa(fr, &ops, &nops) || nops != 1 ||
	    ops[0].atom != DW_OP_bregx)
		return;
	off = (int64_t)ops[0].number2;
	if (off < INT32_MIN || off > INT32_MAX)
		return;
	if (ops[0].number == DW_REG_RSP)
		r->cfa = MT_UNW_CFA_RSP;
	else if (ops[0].number == DW_REG_RBP)
		r->cfa = MT_UNW_CFA_RBP;
	else
		return;
	r->cfa_off = (int32_t)off;

	if (dwarf_frame_register(fr, DW_REG_RBP, mem, &ops, &nops))
		return;
	if (nops == 0 && !ops) {
		r->rbp = MT_UNW_RBP_SAME;
	} else if (cfa_relative(ops, nops, &off) && off >= INT16_MIN &&
		   off <= INT16_MAX) {
		r->rbp = MT_UNW_RBP_SAVED;
		r->rbp_off = (int16_t)off;
	}
}

/* Width of a DW_EH_PE-encoded value we accept, or 0. */
static size_t enc_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case 0x03:	/* udata4 */
	case 0x0b:	/* sdata4 */
		return 4;
	case 0x00:	/* absptr */
	case 0x04:	/* udata8 */
	case 0x0c:	/* sdata8 */
		return 8;
	}
	return 0;
}

/* The initial locations of every FDE, sorted, from .eh_frame_hdr. */
static int fde_starts(Elf *elf, uint64_t **out, size_t *n)
{
	const uint8_t *p, *end;
	size_t i, nph, psz, csz;
	uint64_t hdr_vaddr = 0, count = 0, *v;
	Elf_Data *d = NULL;
	GElf_Phdr ph;

	if (elf_getphdrnum(elf, &nph))
		return -ENOENT;
	for (i = 0; i < nph; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph) ||
		    ph.p_type != PT_GNU_EH_FRAME)
			continue;
		d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset,
					 ph.p_filesz, ELF_T_BYTE);
		hdr_vaddr = ph.p_vaddr;
		break;
	}
	if (!d || d->d_size < 4)
		return -ENOENT;
	p = d->d_buf;
	end = p + d->d_size;
	psz = enc_size(p[1]);
	csz = enc_size(p[2]);
	if (p[0] != 1 || p[1] == 0xff || !psz || !csz ||
	    p[3] != EH_TABLE_DATAREL_SDATA4 || 4 + psz + csz > d->d_size)
		return -ENOENT;
	p += 4 + psz;
	if (csz == 4) {
		uint32_t c;

		memcpy(&c, p, 4);
		count = c;
	} else {
		memcpy(&count, p, 8);
	}
	p += csz;
	if (count > (uint64_t)(end - p) / 8)
		return -ENOENT;
	v = malloc((count ? count : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		int32_t loc;

		memcpy(&loc, p + i * 8, 4);
		v[i] = hdr_vaddr + (uint64_t)(int64_t)loc;
	}
	*out = v;
	*n = count;
	return 0;
}

int cfitable__fdes(Elf *elf, size_t *n)
{
	uint64_t *starts = NULL;
	int err = fde_starts(elf, &starts, n);

	free(starts);
	return err;
}

int cfitable__build(Elf *elf, size_t max, struct cfitable *out)
{
	uint64_t *starts = NULL, addr = 0, next;
	struct mt_unw_row r;
	Dwarf_CFI *cfi = NULL;
	size_t i, n = 0, cap = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = fde_starts(elf, &starts, &n);
	if (err)
		return err;
	if (!n) {
		err = -ENOENT;
		goto cleanup;
	}
	cfi = dwarf_getcfi_elf(elf);
	if (!cfi) {
		err = -ENOENT;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		next = i + 1 < n ? starts[i + 1] : UINT64_MAX;
		if (starts[i] > addr)
			addr = starts[i];
		while (addr < next) {
			Dwarf_Addr start, end;
			Dwarf_Frame *fr;
			bool signal;

			if (addr > UINT32_MAX) {
				err = -E2BIG;
				goto cleanup;
			}
			memset(&r, 0, sizeof(r));
			r.pc = (uint32_t)addr;
			if (dwarf_cfi_addrframe(cfi, addr, &fr)) {
				/* a gap before the next FDE */
				r.cfa = MT_UNW_CFA_INVALID;
				r.rbp = MT_UNW_RBP_UNDEF;
				err = push(out, &cap, max, &r);
				if (err)
					goto cleanup;
				break;
			}
			signal = false;
			dwarf_frame_info(fr, &start, &end, &signal);
			convert(fr, signal, &r);
			free(fr);
			err = push(out, &cap, max, &r);
			if (err)
				goto cleanup;
			if (end <= addr)
				break;
			addr = end;
		}
	}
	err = 0;
cleanup:
	if (cfi)
		dwarf_cfi_end(cfi);
	free(starts);
	if (err)
		cfitable__free(out);
	return err;
}

const struct mt_unw_row *cfitable__find(const struct cfitable *t, uint64_t pc)
{
	size_t lo = 0, hi = t->n, mid;

	if (!t->n || pc < t->rows[0].pc)
		return NULL;
	while (lo + 1 < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->rows[mid].pc <= pc)
			lo = mid;
		else
			hi = mid;
	}
	return &t->rows[lo];
}
