// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * allocsample.c - find an allocator's own sampler and the places on its
 * sampled path to probe (see allocsample.h for what is hooked and why).
 *
 * tcmalloc (gperftools 2.10, src/tcmalloc.cc): DoSampledAllocation(size)
 * takes a whole span for a sampled block, hangs a StackTrace (whose first
 * word is the requested size) on span->objects, sets span->sample and
 * calls DLL_Prepend(&sampled_objects_, span); do_free_pages(span) calls
 * DLL_Remove(span) only `if (span->sample)`. The page heap and central
 * free lists call both functions too, so their entries would trap on
 * unsampled work (and their first instruction, a mov, is single-stepped);
 * the two call instructions on the sampled path are reached by nothing
 * else and are emulated. Debian's build has no .symtab, so they are found
 * by code pattern: the only `call DLL_Prepend` preceded by an `or $0x4` on
 * byte 0x2b of a register (the sample bit), and the only `call
 * DLL_Remove` preceded by a `test $0x4` of it; the `shl $13` that turns
 * span->start into the block's address follows the first.
 * The period is FLAGS_tcmalloc_sample_parameter (exported, read from the
 * target's memory), or TCMALLOC_SAMPLE_PARAMETER in its environment while
 * tcmalloc's initialisers have not run yet (launch mode stops before them).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <capstone/capstone.h>

#include "attach/allocsample.h"
#include "memtel_allocsample.h"
#include "process/elfinfo.h"
#include "process/procmaps.h"
#include "util/fileio.h"

#define TC_PREPEND "_ZN8tcmalloc11DLL_PrependEPNS_4SpanES1_"
#define TC_REMOVE "_ZN8tcmalloc10DLL_RemoveEPNS_4SpanE"
#define TC_FLAG "_ZN61FLAG__namespace_do_not_use_directly_use_DECLARE_int64_instead31FLAGS_tcmalloc_sample_parameterE"
#define TC_ENV "TCMALLOC_SAMPLE_PARAMETER"

/* Instructions looked back (the bit test/set) and ahead (the shift). */
#define SCAN_BACK 8
#define SCAN_AHEAD 12
/* Largest .text scanned. */
#define SCAN_MAX (64u << 20)

static bool in_set(uint64_t v, const uint64_t *set, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == v)
			return true;
	return false;
}

/* `op byte ptr [reg + MT_TC_SPAN_SAMPLE_BYTE], MT_TC_SPAN_SAMPLE_BIT` */
static bool is_sample_bit(const cs_insn *in, unsigned int id)
{
	const cs_x86 *x = &in->detail->x86;

	return in->id == id && x->op_count == 2 &&
	       x->operands[0].type == X86_OP_MEM &&
	       x->operands[0].size == 1 &&
	       x->operands[0].mem.base != X86_REG_RIP &&
	       x->operands[0].mem.index == X86_REG_INVALID &&
	       x->operands[0].mem.disp == MT_TC_SPAN_SAMPLE_BYTE &&
	       x->operands[1].type == X86_OP_IMM &&
	       x->operands[1].imm == MT_TC_SPAN_SAMPLE_BIT;
}

static bool call_target(const cs_insn *in, uint64_t *to)
{
	const cs_x86 *x = &in->detail->x86;

	if (in->id != X86_INS_CALL || x->op_count != 1 ||
	    x->operands[0].type != X86_OP_IMM)
		return false;
	*to = (uint64_t)x->operands[0].imm;
	return true;
}

int allocsample__scan_tcmalloc(const uint8_t *code, size_t len,
			       uint64_t vaddr, const uint64_t *prepend,
			       size_t n_prepend, const uint64_t *remove,
			       size_t n_remove,
			       struct allocsample_tc_sites *out)
{
	/* the last SCAN_BACK instructions: was the sample bit set/tested */
	bool set_bit[SCAN_BACK] = { 0 }, test_bit[SCAN_BACK] = { 0 };
	unsigned int ahead = 0, k = 0, i;
	const uint8_t *p = code;
	uint64_t addr = vaddr, to;
	size_t left = len;
	cs_insn *in;
	csh h;

	memset(out, 0, sizeof(*out));
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOTSUP;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	if (!in) {
		cs_close(&h);
		return -ENOMEM;
	}
	while (left) {
		bool set_seen = false, test_seen = false;

		if (!cs_disasm_iter(h, &p, &left, &addr, in)) {
			/* data or padding the decoder refuses: step a byte */
			p++;
			left--;
			addr++;
			continue;
		}
		for (i = 0; i < SCAN_BACK; i++) {
			set_seen |= set_bit[i];
			test_seen |= test_bit[i];
		}
		if (ahead && in->id == X86_INS_SHL &&
		    in->detail->x86.op_count == 2 &&
		    in->detail->x86.operands[0].type == X86_OP_REG &&
		    in->detail->x86.operands[1].type == X86_OP_IMM) {
			int64_t s = in->detail->x86.operands[1].imm;

			if (s >= 12 && s <= 20 && !out->page_shift)
				out->page_shift = (unsigned int)s;
			ahead = 0;
		} else if (ahead) {
			ahead--;
		}
		if (call_target(in, &to)) {
			if (set_seen && in_set(to, prepend, n_prepend)) {
				if (out->n_alloc < ALLOCSAMPLE_MAX_SITES)
					out->alloc[out->n_alloc] = in->address;
				out->n_alloc++;
				ahead = SCAN_AHEAD;
			} else if (test_seen && in_set(to, remove, n_remove)) {
				if (out->n_free < ALLOCSAMPLE_MAX_SITES)
					out->free[out->n_free] = in->address;
				out->n_free++;
			}
		}
		/* a call or a return ends what the look-back may pair */
		if (in->id == X86_INS_CALL || in->id == X86_INS_RET) {
			memset(set_bit, 0, sizeof(set_bit));
			memset(test_bit, 0, sizeof(test_bit));
			continue;
		}
		set_bit[k] = is_sample_bit(in, X86_INS_OR);
		test_bit[k] = is_sample_bit(in, X86_INS_TEST);
		k = (k + 1) % SCAN_BACK;
	}
	cs_free(in, 1);
	cs_close(&h);
	return 0;
}

/* PLT stubs in sec that jump through the GOT slot `got`: each
 * `jmp *got(%rip)`, and the endbr64 before it (.plt.sec). */
static size_t plt_stubs(const char *path, const char *sec, uint64_t got,
			uint64_t *out, size_t max)
{
	struct elf_section s;
	uint8_t *buf = NULL;
	size_t n = 0, left;
	const uint8_t *p;
	uint64_t addr;
	cs_insn *in = NULL;
	csh h;
	long got_len;

	if (elfinfo__section(path, sec, &s) || !s.size || s.size > SCAN_MAX)
		return 0;
	buf = malloc(s.size);
	if (!buf)
		return 0;
	got_len = elfinfo__read_bytes(path, s.offset, buf, s.size);
	if (got_len <= 0 || cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		goto cleanup;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	p = buf;
	left = (size_t)got_len;
	addr = s.vaddr;
	while (in && left && n < max) {
		const cs_x86 *x;
		uint64_t at = addr;

		if (!cs_disasm_iter(h, &p, &left, &addr, in)) {
			p++;
			left--;
			addr++;
			continue;
		}
		x = &in->detail->x86;
		if (in->id != X86_INS_JMP || x->op_count != 1 ||
		    x->operands[0].type != X86_OP_MEM ||
		    x->operands[0].mem.base != X86_REG_RIP ||
		    in->address + in->size + (uint64_t)x->operands[0].mem.disp != got)
			continue;
		out[n++] = at;
		if (at - s.vaddr >= 4 && n < max &&
		    !memcmp(buf + (at - s.vaddr) - 4, "\xf3\x0f\x1e\xfa", 4))
			out[n++] = at - 4;
	}
	if (in)
		cs_free(in, 1);
	cs_close(&h);
cleanup:
	free(buf);
	return n;
}

/* Addresses a call to the exported function sym lands on. */
static size_t call_targets(const char *path, const char *sym, uint64_t *out,
			   size_t max)
{
	static const char *const plts[] = { ".plt", ".plt.sec" };
	struct elf_func f;
	uint64_t got;
	size_t n = 0, i;

	if (elfinfo__find_func(path, sym, &f))
		return 0;
	out[n++] = f.vaddr;
	if (elfinfo__got_slot(path, sym, &got))
		return n;
	for (i = 0; i < sizeof(plts) / sizeof(plts[0]); i++)
		n += plt_stubs(path, plts[i], got, out + n, max - n);
	return n;
}

/* Does the function fn of the file at path call (or tail-jump to)
 * callee: its definition, a PLT stub of it, or through its GOT slot?
 * The first FORWARD_MAX bytes of fn are decoded. */
#define FORWARD_MAX 512

bool allocsample__forwards(const char *path, const char *fn,
			   const char *callee)
{
	static const char *const plts[] = { ".plt", ".plt.sec" };
	uint64_t to_set[16], got = 0, addr, to;
	uint8_t code[FORWARD_MAX];
	const uint8_t *p = code;
	struct elf_func f, c;
	size_t n = 0, left, i;
	bool hit = false;
	cs_insn *in;
	long len;
	csh h;

	if (elfinfo__find_func(path, fn, &f))
		return false;
	if (!elfinfo__find_func(path, callee, &c))
		to_set[n++] = c.vaddr;
	if (!elfinfo__got_slot(path, callee, &got))
		for (i = 0; i < sizeof(plts) / sizeof(plts[0]); i++)
			n += plt_stubs(path, plts[i], got, to_set + n,
				       sizeof(to_set) / sizeof(to_set[0]) - n);
	if (!n && !got)
		return false;
	len = elfinfo__read_bytes(path, f.file_offset, code,
				  f.size && f.size < FORWARD_MAX ?
				  f.size : FORWARD_MAX);
	if (len <= 0 || cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return false;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	in = cs_malloc(h);
	left = (size_t)len;
	addr = f.vaddr;
	while (in && left && !hit && cs_disasm_iter(h, &p, &left, &addr, in)) {
		const cs_x86 *x = &in->detail->x86;

		if ((in->id != X86_INS_CALL && in->id != X86_INS_JMP) ||
		    x->op_count != 1)
			continue;
		if (x->operands[0].type == X86_OP_IMM) {
			to = (uint64_t)x->operands[0].imm;
			hit = in_set(to, to_set, n);
		} else if (x->operands[0].type == X86_OP_MEM &&
			   x->operands[0].mem.base == X86_REG_RIP && got) {
			/* -fno-plt: call *callee@GOTPCREL(%rip) */
			hit = in->address + in->size +
			      (uint64_t)x->operands[0].mem.disp == got;
		}
	}
	if (in)
		cs_free(in, 1);
	cs_close(&h);
	return hit;
}

/* Value of variable name in pid's environment into buf ("" if unset). */
static void env_of(pid_t pid, const char *name, char *buf, size_t len)
{
	size_t nlen = strlen(name), got = 0;
	char path[64], *env = NULL;
	const char *v;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	if (fileio__read_text(path, 0, 1 << 20, &env, &got))
		return;
	for (v = env; v < env + got; v += strlen(v) + 1) {
		if (!strncmp(v, name, nlen) && v[nlen] == '=') {
			snprintf(buf, len, "%s", v + nlen + 1);
			break;
		}
	}
	free(env);
}

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* Run-time minus link-time address of the allocator's text: its
 * executable mapping holds the file offset of f. */
static int load_bias(pid_t pid, const struct allocator *a,
		     const struct elf_func *f, uint64_t *bias)
{
	struct mt_maps maps = { 0 };
	int err = -ENOENT;
	size_t i;

	if (procmaps__read(pid, &maps))
		return -ESRCH;
	for (i = 0; i < maps.n; i++) {
		const struct mt_mapping *m = &maps.v[i];

		if (m->perms[2] != 'x' || strcmp(m->path, a->path) ||
		    f->file_offset < m->pgoff ||
		    f->file_offset - m->pgoff >= m->end - m->start)
			continue;
		*bias = m->start + (f->file_offset - m->pgoff) - f->vaddr;
		err = 0;
		break;
	}
	procmaps__free(&maps);
	return err;
}

int allocsample__tc_file(const char *path, struct allocsample_tc_sites *out,
			 uint64_t *text_delta)
{
	uint64_t prepend[8], remove[8];
	size_t n_prepend, n_remove;
	struct elf_section text;
	uint8_t *code;
	long got;
	int err;

	memset(out, 0, sizeof(*out));
	n_prepend = call_targets(path, TC_PREPEND, prepend, 8);
	n_remove = call_targets(path, TC_REMOVE, remove, 8);
	if (!n_prepend || !n_remove)
		return -ENOENT;
	err = elfinfo__section(path, ".text", &text);
	if (err)
		return err;
	if (!text.size || text.size > SCAN_MAX)
		return -EFBIG;
	code = malloc(text.size);
	if (!code)
		return -ENOMEM;
	got = elfinfo__read_bytes(path, text.offset, code, text.size);
	err = got < 0 ? (int)got :
	      allocsample__scan_tcmalloc(code, (size_t)got, text.vaddr,
					 prepend, n_prepend, remove, n_remove,
					 out);
	free(code);
	*text_delta = text.offset - text.vaddr;
	return err;
}

static void find_tcmalloc(pid_t pid, const struct allocator *a,
			  struct allocsample *out)
{
	struct allocsample_tc_sites sites;
	uint64_t flag_vaddr, bias, delta = 0;
	struct elf_func pf;
	int64_t flag = 0;
	char env[64];
	size_t i;
	int err;

	if (elfinfo__find_object(a->open_path, TC_FLAG, &flag_vaddr) ||
	    elfinfo__find_func(a->open_path, TC_PREPEND, &pf))
		return;
	out->kind = ALLOCSAMPLE_TCMALLOC;
	if (load_bias(pid, a, &pf, &bias) == 0 &&
	    read_mem(pid, flag_vaddr + bias, &flag, sizeof(flag)) == 0)
		out->period_addr = flag_vaddr + bias;
	env_of(pid, TC_ENV, env, sizeof(env));
	out->period = flag > 0 ? flag : env[0] ? strtoll(env, NULL, 10) : 0;
	if (out->period <= 0) {
		out->period = 0;
		return;		/* sampling off: the full probes */
	}
	out->state = ALLOCSAMPLE_UNHOOKABLE;
	/* the collector drops the allocator's frames by module: linked into
	 * the program, they cannot be told from the program's own */
	if (a->kind && !strcmp(a->kind, "executable")) {
		snprintf(out->why, sizeof(out->why),
			 "it is linked into the executable, whose frames a sample's stack could not tell from tcmalloc's");
		return;
	}
	err = allocsample__tc_file(a->open_path, &sites, &delta);
	if (err || !out->period_addr) {
		snprintf(out->why, sizeof(out->why),
			 "its sampler's variables or code are not where gperftools 2.x has them: %s",
			 err ? strerror(-err) : "the period is unreadable");
		return;
	}
	if (!sites.n_alloc || !sites.n_free || !sites.page_shift ||
	    sites.n_alloc > ALLOCSAMPLE_MAX_SITES ||
	    sites.n_free > ALLOCSAMPLE_MAX_SITES) {
		snprintf(out->why, sizeof(out->why),
			 "its sampled path is not the code gperftools 2.10 has (%zu alloc and %zu free sites found)",
			 sites.n_alloc, sites.n_free);
		return;
	}
	/* .text addresses -> file offsets for the uprobes */
	for (i = 0; i < sites.n_alloc; i++)
		out->alloc_off[i] = sites.alloc[i] + delta;
	for (i = 0; i < sites.n_free; i++)
		out->free_off[i] = sites.free[i] + delta;
	out->n_alloc = sites.n_alloc;
	out->n_free = sites.n_free;
	out->page_shift = sites.page_shift;
	out->state = ALLOCSAMPLE_HOOKED;
	snprintf(out->why, sizeof(out->why),
		 "call DLL_Prepend after setting span->sample (+0x%llx), call DLL_Remove after testing it (+0x%llx), page shift %u",
		 (unsigned long long)out->alloc_off[0],
		 (unsigned long long)out->free_off[0], out->page_shift);
}

void allocsample__jemalloc_conf(const char *conf, bool *prof, bool *active)
{
	const char *p = conf;

	while (p && *p) {
		size_t klen = strcspn(p, ":,"), vlen;
		const char *v;

		if (p[klen] != ':') {
			p += klen + (p[klen] == ',');
			continue;
		}
		v = p + klen + 1;
		vlen = strcspn(v, ",");
		if (klen == 4 && !strncmp(p, "prof", 4))
			*prof = vlen == 4 && !strncmp(v, "true", 4);
		else if (klen == 11 && !strncmp(p, "prof_active", 11))
			*active = vlen == 4 && !strncmp(v, "true", 4);
		p = v + vlen + (v[vlen] == ',');
	}
}

/* jemalloc's configuration sources in the order it reads them, later ones
 * overriding: the program's `malloc_conf` string, the name the
 * /etc/malloc.conf symlink points to, $MALLOC_CONF. */
static void find_jemalloc(pid_t pid, const struct allocator *a,
			  struct allocsample *out)
{
	bool prof = false, active = true;
	char path[PATH_MAX], buf[256];
	struct elf_func f;
	uint64_t v, ptr;
	ssize_t n;

	if (elfinfo__find_func(a->open_path, "mallctl", &f) ||
	    elfinfo__find_func(a->open_path, "mallocx", &f))
		return;
	out->kind = ALLOCSAMPLE_JEMALLOC;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	if (!elfinfo__find_object(path, "malloc_conf", &v)) {
		struct allocator exe = { .kind = "executable" };
		struct elf_func ef = { .vaddr = v };
		uint64_t bias = 0;

		/* a PIE's data moves with it: the bias of its text */
		n = readlink(path, exe.path, sizeof(exe.path) - 1);
		if (n > 0 && !elfinfo__find_func(path, "main", &ef)) {
			exe.path[n] = '\0';
			if (load_bias(pid, &exe, &ef, &bias))
				bias = 0;
		}
		memset(buf, 0, sizeof(buf));
		if (!read_mem(pid, v + bias, &ptr, sizeof(ptr)) && ptr &&
		    !read_mem(pid, ptr, buf, sizeof(buf) - 1))
			allocsample__jemalloc_conf(buf, &prof, &active);
	}
	snprintf(path, sizeof(path), "/proc/%d/root/etc/malloc.conf", pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		allocsample__jemalloc_conf(buf, &prof, &active);
	}
	env_of(pid, "MALLOC_CONF", buf, sizeof(buf));
	allocsample__jemalloc_conf(buf, &prof, &active);
	if (!prof || !active)
		return;
	out->state = ALLOCSAMPLE_UNHOOKABLE;
	/* a build with its symbols names the internal hook; not used yet */
	if (!elfinfo__find_func(a->open_path, "je_prof_malloc_sample_object", &f) ||
	    !elfinfo__find_func(a->open_path, "prof_malloc_sample_object", &f))
		snprintf(out->why, sizeof(out->why),
			 "probing jemalloc's internal prof_malloc_sample_object is not implemented");
	else
		snprintf(out->why, sizeof(out->why),
			 "a stripped jemalloc exports no function on its sampled path that sees the sampled block");
}

int allocsample__find(pid_t pid, const struct allocator *a,
		      struct allocsample *out)
{
	memset(out, 0, sizeof(*out));
	if (!a || !a->path[0])
		return 0;
	if (kill(pid, 0) && errno == ESRCH)
		return -ESRCH;
	snprintf(out->path, sizeof(out->path), "%s", a->path);
	snprintf(out->open_path, sizeof(out->open_path), "%s", a->open_path);
	find_tcmalloc(pid, a, out);
	if (out->kind == ALLOCSAMPLE_NONE)
		find_jemalloc(pid, a, out);
	return 0;
}

const char *allocsample__describe(const struct allocsample *s, char *buf,
				  size_t len)
{
	switch (s->kind) {
	case ALLOCSAMPLE_TCMALLOC:
		snprintf(buf, len, "tcmalloc's own sampler (one sample per %lld bytes)",
			 (long long)s->period);
		break;
	case ALLOCSAMPLE_JEMALLOC:
		snprintf(buf, len, "jemalloc's own sampler (prof:true)");
		break;
	default:
		snprintf(buf, len, "no allocator sampler");
	}
	return buf;
}
