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
 * A file without .eh_frame (a Go binary) gets its rows from .debug_frame
 * instead (cfitable__build_debug_frame), for the userspace unwinder.
 * x86-64 only: the rows track rsp, rbp and the return address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <zlib.h>

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

/* The rows of the FDEs starting at starts[0..n) (sorted) from cfi. */
static int build_rows(Dwarf_CFI *cfi, const uint64_t *starts, size_t n,
		      size_t max, struct cfitable *out)
{
	uint64_t addr = 0, next;
	struct mt_unw_row r;
	size_t i, cap = 0;
	int err;

	for (i = 0; i < n; i++) {
		next = i + 1 < n ? starts[i + 1] : UINT64_MAX;
		if (starts[i] > addr)
			addr = starts[i];
		while (addr < next) {
			Dwarf_Addr start, end;
			Dwarf_Frame *fr;
			bool signal;

			if (addr > UINT32_MAX)
				return -E2BIG;
			memset(&r, 0, sizeof(r));
			r.pc = (uint32_t)addr;
			if (dwarf_cfi_addrframe(cfi, addr, &fr)) {
				/* a gap before the next FDE */
				r.cfa = MT_UNW_CFA_INVALID;
				r.rbp = MT_UNW_RBP_UNDEF;
				err = push(out, &cap, max, &r);
				if (err)
					return err;
				break;
			}
			signal = false;
			dwarf_frame_info(fr, &start, &end, &signal);
			convert(fr, signal, &r);
			free(fr);
			err = push(out, &cap, max, &r);
			if (err)
				return err;
			if (end <= addr)
				break;
			addr = end;
		}
	}
	return 0;
}

int cfitable__build(Elf *elf, size_t max, struct cfitable *out)
{
	uint64_t *starts = NULL;
	Dwarf_CFI *cfi = NULL;
	size_t n = 0;
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
	err = build_rows(cfi, starts, n, max, out);
cleanup:
	if (cfi)
		dwarf_cfi_end(cfi);
	free(starts);
	if (err)
		cfitable__free(out);
	return err;
}

/*
 * .debug_frame (Go binaries: no .eh_frame at all). libdw reads it only
 * through a Dwarf handle, and dwarf_begin_elf on the file itself would
 * decompress every SHF_COMPRESSED .debug_* section (a Go binary's
 * .debug_info, .debug_line, .debug_loc...): what libdwfl pays per process
 * when it unwinds through one. Here only .debug_frame is decompressed,
 * into a minimal in-memory ELF (same class, byte order and machine, so
 * libdw applies the same ABI initial rules) holding that one section,
 * and libdw interprets it there exactly as it would in the file.
 */
struct debug_frame {
	uint8_t *bytes;		/* the section, decompressed */
	size_t len;
	uint8_t *image;		/* the in-memory ELF */
	Elf *elf;
	Dwarf *dw;
};

static void debug_frame__free(struct debug_frame *df)
{
	if (df->dw)
		dwarf_end(df->dw);
	if (df->elf)
		elf_end(df->elf);
	free(df->image);
	free(df->bytes);
	memset(df, 0, sizeof(*df));
}

#define DEBUG_FRAME_MAX (256u << 20)

/* The bytes of .debug_frame (SHF_COMPRESSED zlib or GNU .zdebug_frame
 * decompressed), malloc'ed. -ENOENT without one, or if the file has
 * .eh_frame (libdwfl prefers it: use cfitable__build). */
static int debug_frame_bytes(Elf *elf, uint8_t **out, size_t *len)
{
	Elf_Scn *scn = NULL, *found = NULL;
	GElf_Shdr sh, fsh = { 0 };
	const uint8_t *p;
	uint64_t size = 0;
	size_t shstrndx, nph, i, off;
	bool gnu = false;
	Elf_Data *d;
	uLongf dlen;
	uint8_t *buf;

	if (gelf_getclass(elf) != ELFCLASS64)
		return -ENOENT;
	if (elf_getphdrnum(elf, &nph) == 0) {
		for (i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) &&
			    ph.p_type == PT_GNU_EH_FRAME)
				return -ENOENT;
		}
	}
	if (elf_getshdrstrndx(elf, &shstrndx))
		return -ENOENT;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		/* an empty one (a -nostdlib build) is no CFI for libdwfl */
		if (!strcmp(name, ".eh_frame") && sh.sh_type == SHT_PROGBITS &&
		    sh.sh_size)
			return -ENOENT;
		if (!strcmp(name, ".debug_frame") ||
		    !strcmp(name, ".zdebug_frame")) {
			found = scn;
			fsh = sh;
			gnu = name[1] == 'z';
		}
	}
	if (!found || fsh.sh_type != SHT_PROGBITS || !fsh.sh_size)
		return -ENOENT;
	/* the section as this Elf has it now: libdw may have decompressed it
	 * in place already (dwarf_begin_elf on the same Elf), which clears
	 * SHF_COMPRESSED and leaves the plain bytes in its data */
	d = elf_rawdata(found, NULL);
	if (!d || !d->d_buf || d->d_size != fsh.sh_size)
		return -ENOENT;
	p = d->d_buf;
	if (fsh.sh_flags & SHF_COMPRESSED) {
		Elf64_Chdr ch;

		if (d->d_size < sizeof(ch))
			return -ENOENT;
		memcpy(&ch, p, sizeof(ch));
		if (ch.ch_type != ELFCOMPRESS_ZLIB)
			return -ENOTSUP;
		size = ch.ch_size;
		off = sizeof(ch);
	} else if (gnu && d->d_size >= 12 && !memcmp(p, "ZLIB", 4)) {
		/* "ZLIB", then the size as a big-endian u64 (not yet
		 * decompressed in place) */
		for (i = 0; i < 8; i++)
			size = size << 8 | p[4 + i];
		off = 12;
	} else {
		size = d->d_size;
		off = 0;
	}
	if (!size || size > DEBUG_FRAME_MAX)
		return -E2BIG;
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	if (off) {
		dlen = (uLongf)size;
		if (uncompress(buf, &dlen, p + off, d->d_size - off) != Z_OK ||
		    dlen != size) {
			free(buf);
			return -EINVAL;
		}
	} else {
		memcpy(buf, p, size);
	}
	*out = buf;
	*len = size;
	return 0;
}

/* The decompressed .debug_frame of elf and a Dwarf handle on it alone. */
static int debug_frame__open(Elf *elf, struct debug_frame *df)
{
	static const char shstr[] = "\0.debug_frame\0.shstrtab";
	const unsigned char *ident;
	Elf64_Ehdr eh;
	Elf64_Shdr shdr[3];
	GElf_Ehdr oeh;
	size_t data_off, str_off, sh_off, size;
	int err;

	memset(df, 0, sizeof(*df));
	err = debug_frame_bytes(elf, &df->bytes, &df->len);
	if (err)
		return err;
	ident = (const unsigned char *)elf_getident(elf, NULL);
	if (!ident || !gelf_getehdr(elf, &oeh)) {
		err = -ENOENT;
		goto fail;
	}
	data_off = sizeof(eh);
	str_off = data_off + df->len;
	sh_off = (str_off + sizeof(shstr) + 7) & ~(size_t)7;
	size = sh_off + sizeof(shdr);
	df->image = calloc(1, size);
	if (!df->image) {
		err = -ENOMEM;
		goto fail;
	}
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ident, EI_NIDENT);
	eh.e_type = ET_EXEC;
	eh.e_machine = oeh.e_machine;
	eh.e_version = EV_CURRENT;
	eh.e_shoff = sh_off;
	eh.e_ehsize = sizeof(eh);
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	eh.e_shstrndx = 2;
	memset(shdr, 0, sizeof(shdr));
	shdr[1].sh_name = 1;		/* ".debug_frame" */
	shdr[1].sh_type = SHT_PROGBITS;
	shdr[1].sh_offset = data_off;
	shdr[1].sh_size = df->len;
	shdr[1].sh_addralign = 1;
	shdr[2].sh_name = 14;		/* ".shstrtab" */
	shdr[2].sh_type = SHT_STRTAB;
	shdr[2].sh_offset = str_off;
	shdr[2].sh_size = sizeof(shstr);
	shdr[2].sh_addralign = 1;
	/* the image is in the file's byte order, which is ours on x86-64:
	 * a foreign one is refused */
	if (ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ?
			       ELFDATA2LSB : ELFDATA2MSB)) {
		err = -ENOTSUP;
		goto fail;
	}
	memcpy(df->image, &eh, sizeof(eh));
	memcpy(df->image + data_off, df->bytes, df->len);
	memcpy(df->image + str_off, shstr, sizeof(shstr));
	memcpy(df->image + sh_off, shdr, sizeof(shdr));
	df->elf = elf_memory((char *)df->image, size);
	if (!df->elf) {
		err = -ENOENT;
		goto fail;
	}
	df->dw = dwarf_begin_elf(df->elf, DWARF_C_READ, NULL);
	if (!df->dw) {
		err = -ENOENT;
		goto fail;
	}
	return 0;
fail:
	debug_frame__free(df);
	return err;
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

/* The initial locations of the FDEs of .debug_frame, sorted, distinct. */
static int debug_frame_starts(Elf *elf, const struct debug_frame *df,
			      uint64_t **out, size_t *n)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	Elf_Data data = { .d_buf = df->bytes, .d_size = df->len };
	Dwarf_Off off = 0, next;
	size_t cnt = 0, cap = 0, i, j;
	uint64_t *v = NULL, *nv;

	if (!ident)
		return -ENOENT;
	while (off < df->len) {
		Dwarf_CFI_Entry e;
		uint64_t loc;
		int rc = dwarf_next_cfi(ident, &data, false, off, &next, &e);

		if (rc != 0)
			break;	/* 1: the end; -1: stop at what was read */
		off = next;
		if (e.CIE_id == DW_CIE_ID_64)
			continue;
		/* initial_location: an address of the (64-bit) target */
		if (e.fde.end - e.fde.start < 16)
			continue;
		memcpy(&loc, e.fde.start, sizeof(loc));
		if (!loc)
			continue;	/* discarded by the linker */
		if (cnt == cap) {
			cap = cap ? cap * 2 : 1024;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = loc;
	}
	if (!cnt) {
		free(v);
		return -ENOENT;
	}
	qsort(v, cnt, sizeof(*v), u64_cmp);
	for (i = j = 0; i < cnt; i++)
		if (!j || v[i] != v[j - 1])
			v[j++] = v[i];
	*out = v;
	*n = j;
	return 0;
}

int cfitable__debug_frame_fdes(Elf *elf, size_t *n)
{
	struct debug_frame df = { 0 };
	uint64_t *starts = NULL;
	int err;

	/* no Dwarf handle needed to count */
	err = debug_frame_bytes(elf, &df.bytes, &df.len);
	if (!err)
		err = debug_frame_starts(elf, &df, &starts, n);
	free(starts);
	debug_frame__free(&df);
	return err;
}

int cfitable__build_debug_frame(Elf *elf, size_t max, struct cfitable *out)
{
	struct debug_frame df;
	uint64_t *starts = NULL;
	Dwarf_CFI *cfi;
	size_t n = 0;
	int err;

	memset(out, 0, sizeof(*out));
	err = debug_frame__open(elf, &df);
	if (err)
		return err;
	err = debug_frame_starts(elf, &df, &starts, &n);
	if (err)
		goto cleanup;
	cfi = dwarf_getcfi(df.dw);	/* owned by df.dw */
	if (!cfi) {
		err = -ENOENT;
		goto cleanup;
	}
	err = build_rows(cfi, starts, n, max, out);
cleanup:
	free(starts);
	debug_frame__free(&df);
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
