// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_prologue.c - unit tests for uprobe placement: synthetic byte sequences
 * for each rule, the kernel's emulation classes, and the real allocator
 * entry points of this machine's libc, jemalloc and tcmalloc (the offsets
 * the profiler will use, planned by allocator__plan).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "process/elfinfo.h"
#include "attach/allocator.h"
#include "attach/prologue.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
/* glibc 2.36 (Debian 12) whose prologues are listed in real_cases[] */
#define LIBC_KNOWN_BUILD_ID "93ac61ec5a8eb1396f9fbd350e3169a558528a40"

#define RDI PROLOGUE_ARG_RDI
#define RSI PROLOGUE_ARG_RSI
#define RDX PROLOGUE_ARG_RDX
#define RCX PROLOGUE_ARG_RCX

static void expect(const uint8_t *code, size_t len,
		   const struct prologue_req *req, uint64_t off, bool emulated,
		   const char *insn)
{
	struct prologue_plan pl;

	assert_int_equal(prologue__plan(code, len, 0x401000, req, &pl), 0);
	if (pl.offset != off || pl.emulated != emulated ||
	    (insn && strcmp(pl.insn, insn)))
		fail_msg("got +%llu emulated=%d '%s' (%s), want +%llu %d '%s'",
			 (unsigned long long)pl.offset, pl.emulated, pl.insn,
			 pl.why, (unsigned long long)off, emulated,
			 insn ? insn : "?");
	assert_true(pl.why[0] != '\0');
}

#define EXPECT(bytes, req, off, emu, insn)				\
	expect(bytes, sizeof(bytes), req, off, emu, insn)

static void test_is_emulated(void **state)
{
	static const struct {
		uint8_t b[8];
		size_t len;
		bool emu;
	} cases[] = {
		{ { 0x55 }, 1, true },				/* push rbp */
		{ { 0x53 }, 1, true },				/* push rbx */
		{ { 0x41, 0x54 }, 2, true },			/* push r12 */
		{ { 0x41, 0x57 }, 2, true },			/* push r15 */
		{ { 0x66, 0x55 }, 2, false },			/* push bp */
		{ { 0x48, 0x55 }, 2, false },			/* REX.W push */
		{ { 0x49, 0x54 }, 2, false },			/* REX.WB push */
		{ { 0x5d }, 1, false },				/* pop rbp */
		{ { 0xff, 0x35, 0, 0, 0, 0 }, 6, false },	/* push [rip] */
		{ { 0x6a, 0x00 }, 2, false },			/* push imm8 */
		{ { 0xeb, 0x05 }, 2, true },			/* jmp rel8 */
		{ { 0xe9, 1, 2, 3, 4 }, 5, true },		/* jmp rel32 */
		{ { 0xe8, 1, 2, 3, 4 }, 5, true },		/* call rel32 */
		{ { 0xe8, 1, 2 }, 3, false },			/* truncated */
		{ { 0x74, 0x05 }, 2, true },			/* je rel8 */
		{ { 0x7f, 0x05 }, 2, true },			/* jg rel8 */
		{ { 0x0f, 0x84, 1, 2, 3, 4 }, 6, true },	/* je rel32 */
		{ { 0x0f, 0x8f, 1, 2, 3, 4 }, 6, true },	/* jg rel32 */
		{ { 0xf2, 0xe9, 1, 2, 3, 4 }, 6, true },	/* bnd jmp */
		{ { 0x66, 0x74, 0x05 }, 3, false },		/* 16-bit jcc */
		{ { 0x66, 0xe8, 1, 2 }, 4, false },		/* callw */
		{ { 0x2e, 0x74, 0x05 }, 3, false },		/* CS: hint */
		{ { 0x3e, 0xeb, 0x05 }, 3, false },		/* notrack-ish */
		{ { 0x90 }, 1, true },				/* nop */
		{ { 0x66, 0x90 }, 2, true },			/* xchg ax,ax */
		{ { 0x66, 0x66, 0x90 }, 3, true },		/* data16 nop */
		{ { 0xf3, 0x90 }, 2, false },			/* pause */
		{ { 0x41, 0x90 }, 2, false },			/* xchg eax,r8d */
		{ { 0x0f, 0x1f, 0x00 }, 3, false },		/* nopl: conservative */
		{ { 0x0f, 0x1f, 0x44, 0, 0 }, 5, false },	/* nop5 */
		{ { 0xf3, 0x0f, 0x1e, 0xfa }, 4, false },	/* endbr64 */
		{ { 0xff, 0xe0 }, 2, false },			/* jmp rax */
		{ { 0xc3 }, 1, false },				/* ret */
		{ { 0x48, 0x85, 0xff }, 3, false },		/* test rdi,rdi */
		{ { 0 }, 0, false },				/* no bytes */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (prologue__is_emulated(cases[i].b, cases[i].len) !=
		    cases[i].emu)
			fail_msg("case %zu: want %d", i, cases[i].emu);
	assert_false(prologue__is_emulated(NULL, 4));
}

static void test_push_first(void **state)
{
	/* push r12; push rbp; mov rbx, rdi */
	static const uint8_t code[] = { 0x41, 0x54, 0x55, 0x48, 0x89, 0xfb };
	struct prologue_req req = { .args = RDI, .need_ret = true };

	(void)state;
	EXPECT(code, &req, 0, true, "push r12");
}

static void test_endbr_then_push(void **state)
{
	/* endbr64; push rbp */
	static const uint8_t code[] = { 0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0xc3 };
	struct prologue_req req = { .args = RDI, .need_ret = true };

	(void)state;
	EXPECT(code, &req, 4, true, "push rbp");
}

static void test_null_skip(void **state)
{
	/* test rdi,rdi; je (16-bit operand prefix: not emulated); push rbp */
	static const uint8_t code[] = { 0x48, 0x85, 0xff, 0x66, 0x74, 0x05,
					0x55, 0xc3 };
	/* test edi,edi; ... and cmp rdi,0; ... likewise */
	static const uint8_t code32[] = { 0x85, 0xff, 0x66, 0x74, 0x05, 0x55 };
	static const uint8_t cmp0[] = { 0x48, 0x83, 0xff, 0x00, 0x66, 0x74,
					0x05, 0x55 };
	/* test rsi,rsi; je: not the NULL test of arg1 */
	static const uint8_t rsi[] = { 0x48, 0x85, 0xf6, 0x66, 0x74, 0x05,
				       0x55 };
	/* test rdi,rdi; jne: not a NULL no-op */
	static const uint8_t jne[] = { 0x48, 0x85, 0xff, 0x66, 0x75, 0x05,
				       0x55 };
	/* the free pattern: test rdi,rdi; je rel32 (emulated); push rbp */
	static const uint8_t free_like[] = { 0x48, 0x85, 0xff, 0x0f, 0x84,
					     0xbf, 0x00, 0x00, 0x00, 0x55 };
	struct prologue_req noop = { .args = RDI, .null_is_noop = true };
	struct prologue_req plain = { .args = RDI };

	(void)state;
	EXPECT(code, &noop, 6, true, "push rbp");
	EXPECT(code, &plain, 0, false, "test rdi, rdi");
	EXPECT(code32, &noop, 5, true, "push rbp");
	EXPECT(cmp0, &noop, 7, true, "push rbp");
	EXPECT(rsi, &noop, 0, false, NULL);
	EXPECT(jne, &noop, 0, false, NULL);
	/* an emulated je is itself the first candidate, either way */
	EXPECT(free_like, &noop, 3, true, NULL);
	EXPECT(free_like, &plain, 3, true, NULL);
}

static void test_straight_line_only(void **state)
{
	/* mov rax,rsi; jmp rax; push rbp */
	static const uint8_t ind[] = { 0x48, 0x89, 0xf0, 0xff, 0xe0, 0x55 };
	/* mov eax,1; ret; push rbp */
	static const uint8_t ret[] = { 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3,
				       0x55 };
	struct prologue_req req = { .args = RDI };

	(void)state;
	EXPECT(ind, &req, 0, false, "mov rax, rsi");
	EXPECT(ret, &req, 0, false, "mov eax, 1");
}

static void test_arg_clobber(void **state)
{
	/* mov rax,rsi; mul rdx; mov rsi,rax; jo +5 (reallocarray) */
	static const uint8_t mul[] = { 0x48, 0x89, 0xf0, 0x48, 0xf7, 0xe2,
				       0x48, 0x89, 0xc6, 0x70, 0x05 };
	/* mov rbx,rdi; mov edi,5; push rbp */
	static const uint8_t dil[] = { 0x48, 0x89, 0xfb, 0xbf, 0x05, 0x00,
				       0x00, 0x00, 0x55 };
	/* xor ecx,ecx; push rbp */
	static const uint8_t rcx[] = { 0x31, 0xc9, 0x55 };
	struct prologue_req three = { .args = RDI | RSI | RDX,
				      .need_ret = true };
	struct prologue_req two = { .args = RDI | RSI, .need_ret = true };
	struct prologue_req rdi = { .args = RDI };
	struct prologue_req rdi_rcx = { .args = RDI | RCX };
	struct prologue_req none = { .args = 0 };

	(void)state;
	EXPECT(mul, &three, 0, false, "mov rax, rsi");	/* mul writes rdx */
	EXPECT(mul, &two, 0, false, NULL);	/* mov rsi,rax writes rsi */
	EXPECT(mul, &rdi, 9, true, NULL);	/* only rdi read: jo */
	EXPECT(dil, &rdi, 0, false, NULL);
	EXPECT(dil, &none, 8, true, "push rbp");
	EXPECT(rcx, &rdi, 2, true, "push rbp");
	EXPECT(rcx, &rdi_rcx, 0, false, "xor ecx, ecx");
}

static void test_rsp_change(void **state)
{
	/* sub rsp,0x18; push rbp */
	static const uint8_t sub[] = { 0x48, 0x83, 0xec, 0x18, 0x55 };
	/* pop-free variant: lea rsp,[rsp-8]; jmp rel8 */
	static const uint8_t lea[] = { 0x48, 0x8d, 0x64, 0x24, 0xf8, 0xeb,
				       0x00 };
	/* mov rbp,rsp (reads rsp only); push rbx */
	static const uint8_t mov[] = { 0x48, 0x89, 0xe5, 0x53 };
	/* cmp byte [rip+x],0; push r12 (posix_memalign) */
	static const uint8_t cmpb[] = { 0x80, 0x3d, 0x01, 0x02, 0x14, 0x00,
					0x00, 0x41, 0x54 };
	struct prologue_req ret = { .args = RDI, .need_ret = true };
	struct prologue_req noret = { .args = RDI };
	struct prologue_req three = { .args = RDI | RSI | RDX,
				      .need_ret = true };

	(void)state;
	EXPECT(sub, &ret, 0, false, "sub rsp, 0x18");
	EXPECT(sub, &noret, 4, true, "push rbp");
	EXPECT(lea, &ret, 0, false, NULL);
	EXPECT(lea, &noret, 5, true, NULL);
	EXPECT(mov, &ret, 3, true, "push rbx");
	EXPECT(cmpb, &three, 7, true, "push r12");
}

static void test_no_candidate(void **state)
{
	/* mov rbx,rdi; mov rax,rsi; mov ecx,5: nothing emulated */
	static const uint8_t code[] = { 0x48, 0x89, 0xfb, 0x48, 0x89, 0xf0,
					0xb9, 0x05, 0x00, 0x00, 0x00 };
	/* 66 push then truncated bytes */
	static const uint8_t p66[] = { 0x66, 0x55, 0x0f };
	/* 17 nops-that-are-not-emulated (nopl), then push */
	uint8_t many[17 * 3 + 1];
	struct prologue_req req = { .args = RDI };
	struct prologue_plan pl;
	size_t i;

	(void)state;
	EXPECT(code, &req, 0, false, "mov rbx, rdi");
	EXPECT(p66, &req, 0, false, "push bp");
	for (i = 0; i < 17; i++)
		memcpy(many + 3 * i, "\x0f\x1f\x00", 3);
	many[sizeof(many) - 1] = 0x55;
	EXPECT(many, &req, 0, false, NULL);	/* beyond the window */
	/* within it once the window starts later */
	expect(many + 3 * 4, sizeof(many) - 3 * 4, &req, 13 * 3, true,
	       "push rbp");

	/* a single byte that is emulated: entry */
	expect((const uint8_t *)"\x90", 1, &req, 0, true, "nop");
	/* undecodable input still yields a plan */
	assert_int_equal(prologue__plan((const uint8_t *)"\x0f\xff", 2, 0,
					&req, &pl), 0);
	assert_true(pl.offset == 0);
	assert_false(pl.emulated);

	assert_int_equal(prologue__plan(p66, 0, 0, &req, &pl), -EINVAL);
	assert_int_equal(prologue__plan(NULL, 4, 0, &req, &pl), -EINVAL);
	assert_int_equal(prologue__plan(p66, 3, 0, NULL, &pl), -EINVAL);
}

struct real_case {
	const char *name;
	struct prologue_req req;
	uint64_t offset;	/* on LIBC_KNOWN_BUILD_ID */
	bool emulated;
	const char *insn;
};

static const struct real_case real_cases[] = {
	{ "malloc", { .args = RDI, .need_ret = true }, 0, true, "push r12" },
	{ "free", { .args = RDI, .null_is_noop = true }, 3, true, NULL },
	{ "calloc", { .args = RDI | RSI, .need_ret = true }, 0, true,
	  "push r13" },
	{ "realloc", { .args = RDI | RSI, .need_ret = true }, 0, true,
	  "push r15" },
	{ "posix_memalign", { .args = RDI | RSI | RDX, .need_ret = true }, 7,
	  true, "push r12" },
	{ "aligned_alloc", { .args = RDI | RSI, .need_ret = true }, 7, true,
	  NULL },
	{ "memalign", { .args = RDI | RSI, .need_ret = true }, 7, true, NULL },
	{ "valloc", { .args = RDI, .need_ret = true }, 7, true, "push rbx" },
	{ "pvalloc", { .args = RDI, .need_ret = true }, 7, true, "push rbx" },
	{ "reallocarray", { .args = RDI | RSI | RDX, .need_ret = true }, 0,
	  false, "mov rax, rsi" },
};

/* Re-check the planning rules on real code: the chosen instruction is
 * emulated (or the entry), and nothing before it is disqualifying. */
static void check_rules(const uint8_t *code, size_t len,
			const struct prologue_req *req,
			const struct prologue_plan *pl)
{
	struct prologue_plan sub;
	struct prologue_req none = { 0 };

	assert_true(pl->offset < len);
	if (pl->offset == 0) {
		assert_true(pl->emulated == prologue__is_emulated(code, len));
		return;
	}
	assert_true(pl->emulated);
	assert_true(prologue__is_emulated(code + pl->offset,
					  len - pl->offset));
	/* with no constraints at all, a plan is never later than ours */
	assert_int_equal(prologue__plan(code, len, 0, &none, &sub), 0);
	assert_true(sub.offset <= pl->offset || req->null_is_noop);
}

static void test_real_libc(void **state)
{
	char id[129];
	bool known;
	size_t i;

	(void)state;
	known = elfinfo__build_id(LIBC, id, sizeof(id)) == 0 &&
		!strcmp(id, LIBC_KNOWN_BUILD_ID);

	for (i = 0; i < sizeof(real_cases) / sizeof(real_cases[0]); i++) {
		const struct real_case *c = &real_cases[i];
		struct prologue_plan pl;
		struct elf_func f;
		uint8_t code[64];
		long n;

		assert_int_equal(elfinfo__find_func(LIBC, c->name, &f), 0);
		n = elfinfo__read_bytes(LIBC, f.file_offset, code, sizeof(code));
		assert_true(n == (long)sizeof(code));
		if (f.size && f.size < (uint64_t)n)
			n = f.size;
		assert_int_equal(prologue__plan(code, n, f.vaddr, &c->req, &pl),
				 0);
		print_message("  %-15s +%-3llu %-9s %-16s %s\n", c->name,
			      (unsigned long long)pl.offset,
			      pl.emulated ? "emulated" : "stepped", pl.insn,
			      pl.why);
		check_rules(code, n, &c->req, &pl);
		if (!known)
			continue;
		if (pl.offset != c->offset || pl.emulated != c->emulated ||
		    (c->insn && strcmp(pl.insn, c->insn)))
			fail_msg("%s: got +%llu %d '%s', want +%llu %d '%s'",
				 c->name, (unsigned long long)pl.offset,
				 pl.emulated, pl.insn,
				 (unsigned long long)c->offset, c->emulated,
				 c->insn ? c->insn : "?");
	}
	if (!known)
		print_message("  libc build id %s differs from %s: checked the "
			      "rules only\n", id, LIBC_KNOWN_BUILD_ID);
}

#define LIBDIR "/usr/lib/x86_64-linux-gnu/"

struct pinned {
	const char *func;
	uint64_t offset;
	bool alias;
};

struct real_lib {
	const char *path;
	const char *build_id;	/* where pins[] hold */
	size_t n_points;	/* entry points defined, aliases included */
	size_t n_probed;	/* of which probed */
	struct pinned pins[8];
};

/* Debian 12: jemalloc 5.3.0-1, google-perftools 2.10-1 */
static const struct real_lib real_libs[] = {
	{ LIBDIR "libjemalloc.so.2", "1d5163c246dc9cd2b4d339f2ac42efd95c6e0ae1",
	  33, 31, {
		{ "free", 48, false },		/* jne after 9 straight insns */
		{ "_Znwm", 7, false },		/* ja after cmp */
		{ "_Znam", 0, true },		/* jmp _Znwm: probed there */
		{ "_ZnamRKSt9nothrow_t", 0, true },
		{ "_ZdlPvm", 3, false },	/* je after the NULL test */
		{ "mallocx", 0, false },	/* push r15 */
		{ "sdallocx", 10, false },
		{ "xallocx", 0, false } } },
	{ LIBDIR "libtcmalloc_minimal.so.4",
	  "39dfd4a5855703fa6c2469749282f75b18a1aa66", 29, 17, {
		{ "malloc", 10, false },
		{ "free", 10, false },
		{ "_Znwm", 10, false },
		{ "_Znam", 10, true },		/* same address as _Znwm */
		{ "_ZnwmSt11align_val_t", 13, false },
		{ "_ZdlPv", 10, true },		/* same address as free */
		{ "_ZdlPvm", 10, false },
		{ "memalign", 10, true } } },
};

static bool is_free_sym(const char *s)
{
	return !strncmp(s, "_Zd", 3) || strstr(s, "free") ||
	       strstr(s, "dallocx");
}

static void test_real_allocators(void **state)
{
	size_t i, j, k;

	(void)state;
	for (i = 0; i < sizeof(real_libs) / sizeof(real_libs[0]); i++) {
		const struct real_lib *l = &real_libs[i];
		struct probe_point pts[MT_OP__COUNT];
		struct allocator a = { .kind = "library" };
		size_t n = 0, probed = 0;
		char id[129] = "";
		bool known;

		char real[PATH_MAX];

		/* the loader opens files without following links (a
		 * target's file must never lead elsewhere): the library's
		 * own name, not its .so.N link */
		assert_non_null(realpath(l->path, real));
		snprintf(a.path, sizeof(a.path), "%s", real);
		snprintf(a.open_path, sizeof(a.open_path), "%s", real);
		assert_int_equal(allocator__plan(&a, pts, &n), 0);
		known = elfinfo__build_id(real, id, sizeof(id)) == 0 &&
			!strcmp(id, l->build_id);
		for (j = 0; j < n; j++) {
			const struct probe_point *p = &pts[j];
			uint8_t code[16];

			/* the op table: frees have no return probe */
			assert_int_equal(p->frees, is_free_sym(p->func));
			assert_int_equal(p->has_ret, !p->frees);
			probed += !p->alias;
			if (p->alias)
				continue;
			/* what is probed is emulated on these allocators */
			assert_true(elfinfo__read_bytes(real, p->func_offset +
							p->plan.offset, code,
							sizeof(code)) > 0);
			if (!p->plan.emulated ||
			    !prologue__is_emulated(code, sizeof(code)))
				fail_msg("%s %s: +%llu '%s' is not emulated",
					 l->path, p->func,
					 (unsigned long long)p->plan.offset,
					 p->plan.insn);
		}
		print_message("  %s: %zu entry points, %zu probed\n", l->path,
			      n, probed);
		if (!known) {
			print_message("  build id %s differs from %s: checked "
				      "the rules only\n", id, l->build_id);
			continue;
		}
		assert_int_equal(n, l->n_points);
		assert_int_equal(probed, l->n_probed);
		for (k = 0; k < 8 && l->pins[k].func; k++) {
			const struct pinned *pin = &l->pins[k];

			for (j = 0; j < n && strcmp(pts[j].func, pin->func); j++)
				;
			if (j == n)
				fail_msg("%s: %s not planned", l->path, pin->func);
			if (pts[j].alias != pin->alias ||
			    (!pin->alias && pts[j].plan.offset != pin->offset))
				fail_msg("%s %s: got +%llu alias %d, want +%llu "
					 "alias %d", l->path, pin->func,
					 (unsigned long long)pts[j].plan.offset,
					 pts[j].alias,
					 (unsigned long long)pin->offset,
					 pin->alias);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_emulated),
		cmocka_unit_test(test_push_first),
		cmocka_unit_test(test_endbr_then_push),
		cmocka_unit_test(test_null_skip),
		cmocka_unit_test(test_straight_line_only),
		cmocka_unit_test(test_arg_clobber),
		cmocka_unit_test(test_rsp_change),
		cmocka_unit_test(test_no_candidate),
		cmocka_unit_test(test_real_libc),
		cmocka_unit_test(test_real_allocators),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
