// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_symcache.c - the symbolize stage on this very process: a pc of a
 * known function comes back with its name, source file, our executable's
 * path and build ID; a return address is looked up at pc - 1 (the call's
 * line, not the next one); two functions never share an entry; kernel and
 * unknown pcs give empty results rather than garbage; symbols stay after
 * the target is closed (the file's private copy is the symdb's); a pid
 * opened again (it exec'd, or was reused) is a new image whose maps never
 * answer for the old one's pcs, while what was primed for the old one
 * stays; the
 * sorted symbol index names every code address as libdwfl does, and the
 * per-unit scope index gives libdw's own inline chains, also in a unit
 * with no children (an assembler file).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <gelf.h>
#include <cmocka.h>

#include "model/stacks.h"
#include "process/elfinfo.h"
#include "symbolize/symcache.h"
#include "symbolize/symdb.h"

#define LIBC_PATH "/lib/x86_64-linux-gnu/libc.so.6"

__attribute__((noinline)) int sc_first_function(int x)
{
	return x * 7 + 3;
}

__attribute__((noinline)) int sc_second_function(int x)
{
	return x * 5 - 1;
}

static void test_self(void **state)
{
	uint64_t pc1 = (uint64_t)(uintptr_t)sc_first_function;
	uint64_t pc2 = (uint64_t)(uintptr_t)sc_second_function;
	char exe[4096], id[129];
	const struct sym_result *r;
	struct symcache *sc;
	struct targets *tg;
	struct symdb *db;
	struct target *t;
	uint32_t img;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(elfinfo__build_id(exe, id, sizeof(id)), 0);

	db = symdb__new();
	tg = targets__new(4);
	assert_non_null(db);
	assert_non_null(tg);
	t = target__open(getpid());
	assert_non_null(t);
	assert_int_equal(targets__add(tg, t), 0);
	sc = symcache__new(tg, NULL, db);
	assert_non_null(sc);
	img = targets__image(tg, getpid());
	assert_int_not_equal(img, 0);

	r = symcache__get(sc, (uint32_t)getpid(), img, pc1, false);
	assert_int_equal(r->n_frames >= 1, 1);
	assert_string_equal(r->frames[r->n_frames - 1].function,
			    "sc_first_function");
	assert_non_null(r->frames[0].file);
	assert_non_null(strstr(r->frames[0].file, "test_symcache.c"));
	assert_string_equal(r->module, exe);
	assert_string_equal(r->build_id, id);
	assert_true(r->mod_start <= pc1 && pc1 < r->mod_end);

	/* a return address just past the first function's entry is looked
	 * up at pc - 1: still the first function */
	r = symcache__get(sc, (uint32_t)getpid(), img, pc1 + 1, true);
	assert_int_equal(r->n_frames >= 1, 1);
	assert_string_equal(r->frames[r->n_frames - 1].function,
			    "sc_first_function");

	r = symcache__get(sc, (uint32_t)getpid(), img, pc2, false);
	assert_int_equal(r->n_frames >= 1, 1);
	assert_string_equal(r->frames[r->n_frames - 1].function,
			    "sc_second_function");
	/* one file for both, however many pcs */
	assert_int_equal(symdb__files(db), 1);

	/* a pc in no module and a kernel pc without kallsyms: empty */
	r = symcache__get(sc, (uint32_t)getpid(), img, 16, false);
	assert_int_equal(r->n_frames, 0);
	r = symcache__get(sc, (uint32_t)getpid(), img, 0xffffffff81000000ULL, false);
	assert_int_equal(r->n_frames, 0);

	/* the target closes (process reaped): cached and new lookups of the
	 * same file still come from symdb's own copy */
	targets__free(tg);
	tg = NULL;
	r = symcache__get(sc, (uint32_t)getpid(), img, pc2, false);
	assert_string_equal(r->frames[r->n_frames - 1].function,
			    "sc_second_function");

	symcache__free(sc);
	symdb__free(db);
	assert_int_equal(sc_first_function(1) + sc_second_function(1), 14);
}

/* Two files claiming one build ID are two entries: a build ID alone
 * never decides (issue: a forged build ID renamed another binary's
 * functions). The same identity is one entry. */
/* An exec or a reused pid, as the collector sees it: the pid's target
 * forgotten and opened again. Stacks of the first image keep the names
 * primed for them; a pc of it never primed gets none, though the open
 * (second) image's maps could name it: they are another program's. */
static void test_image(void **state)
{
	uint64_t pc1 = (uint64_t)(uintptr_t)sc_first_function;
	uint64_t pc2 = (uint64_t)(uintptr_t)sc_second_function;
	struct symdb *db = symdb__new();
	struct targets *tg = targets__new(4);
	struct stacks *st = stacks__new();
	const struct sym_result *r;
	struct stack_view v;
	struct symcache *sc;
	uint32_t a, b, id;

	(void)state;
	assert_true(db && tg && st);
	sc = symcache__new(tg, NULL, db);
	assert_non_null(sc);
	assert_non_null(targets__get(tg, getpid()));
	a = targets__image(tg, getpid());
	assert_int_not_equal(a, 0);
	id = stacks__intern(st, (uint32_t)getpid(), a, &pc1, 1, true);
	assert_true(id && stacks__get(st, id, &v));
	assert_int_equal(v.image, a);
	symcache__prime(sc, &v);

	targets__forget(tg, getpid());
	assert_int_equal(targets__image(tg, getpid()), 0);
	assert_non_null(targets__get(tg, getpid()));
	b = targets__image(tg, getpid());
	assert_true(b != 0 && b != a);

	r = symcache__get(sc, (uint32_t)getpid(), a, pc1, false);
	assert_true(r->n_frames >= 1);
	assert_string_equal(r->frames[r->n_frames - 1].function,
			    "sc_first_function");
	r = symcache__get(sc, (uint32_t)getpid(), a, pc2, false);
	assert_int_equal(r->n_frames, 0);
	r = symcache__get(sc, (uint32_t)getpid(), b, pc2, false);
	assert_true(r->n_frames >= 1);
	assert_string_equal(r->frames[r->n_frames - 1].function,
			    "sc_second_function");
	/* and the stacks of the two images are two */
	assert_int_not_equal(stacks__intern(st, (uint32_t)getpid(), b, &pc1, 1,
					    true), id);

	symcache__free(sc);
	stacks__free(st);
	targets__free(tg);
	symdb__free(db);
}

static void test_identity(void **state)
{
	struct symdb_ident a = { .build_id = "feedface", .dev = 1, .ino = 2,
				 .size = 3 };
	struct symdb_ident b = a;
	struct symdb *db = symdb__new();
	uint32_t ia, ib;
	char exe[4096];
	ssize_t n;
	int fd;

	(void)state;
	assert_non_null(db);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	fd = elfinfo__copy(exe, NULL);
	assert_true(fd >= 0);
	b.ino = 99;
	assert_int_equal(symdb__find(db, &a), 0);
	ia = symdb__file(db, &a, fd, exe, "a", NULL);
	assert_true(ia > 0);
	assert_int_equal(symdb__find(db, &b), 0);
	ib = symdb__file(db, &b, fd, exe, "b", NULL);
	assert_true(ib > 0 && ib != ia);
	assert_int_equal(symdb__find(db, &a), ia);
	assert_int_equal(symdb__find(db, &b), ib);
	assert_string_equal(symdb__path(db, ia), "a");
	assert_string_equal(symdb__path(db, ib), "b");
	assert_int_equal(symdb__file(db, &a, fd, exe, "a2", NULL),
			 ia);
	assert_int_equal(symdb__files(db), 2);
	close(fd);
	symdb__free(db);
}

/* path reported alone in a new offline Dwfl (*d, dwfl_end frees it). */
static Dwfl_Module *offline_module(const char *path, Dwfl **d)
{
	static char *dip;
	static const Dwfl_Callbacks cb = {
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = &dip,
	};
	Dwfl_Module *m;
	int fd;

	*d = dwfl_begin(&cb);
	assert_non_null(*d);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	dwfl_report_begin(*d);
	m = dwfl_report_elf(*d, path, path, fd, 0, true);
	dwfl_report_end(*d, NULL, NULL);
	assert_non_null(m);
	return m;
}

/* Names every code address of path (every step-th byte of each
 * executable section) as dwfl_module_addrinfo does; returns how many
 * addresses differ and counts the addresses into *checked. */
static long index_mismatches(const char *path, uint64_t step, long *checked)
{
	struct sym_index *ix;
	Elf_Scn *scn = NULL;
	Dwarf_Addr bias;
	Dwfl_Module *m;
	long bad = 0;
	Dwfl *d;
	Elf *elf;

	m = offline_module(path, &d);
	ix = sym_index__new(m);
	assert_non_null(ix);
	elf = dwfl_module_getelf(m, &bias);
	assert_non_null(elf);
	*checked = 0;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		uint64_t a;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		for (a = sh.sh_addr; a < sh.sh_addr + sh.sh_size; a += step) {
			GElf_Off off;
			GElf_Sym sym;
			const char *want, *got;

			want = dwfl_module_addrinfo(m, a, &off, &sym, NULL,
						    NULL, NULL);
			got = sym_index__lookup(ix, a);
			(*checked)++;
			if (!want != !got || (want && strcmp(want, got))) {
				if (bad++ < 5)
					fprintf(stderr, "%s 0x%llx: %s, not %s\n",
						path, (unsigned long long)a,
						want ? want : "(none)",
						got ? got : "(none)");
			}
		}
	}
	sym_index__free(ix);
	dwfl_end(d);
	return bad;
}

/* The sorted index names code exactly as libdwfl's linear search does:
 * aliases (a global before a weak or local one), sizeless labels
 * (_start, PLT stubs), gaps between functions. */
static void test_sym_index(void **state)
{
	char exe[4096];
	long checked;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(index_mismatches(exe, 3, &checked), 0);
	assert_true(checked > 1000);
	assert_int_equal(index_mismatches(LIBC_PATH, 11, &checked), 0);
	assert_true(checked > 10000);
	assert_null(sym_index__lookup(NULL, 0x1000));
}

static bool frames_equal(const struct sym_result *a, const struct sym_result *b)
{
	int i;

	if (a->n_frames != b->n_frames)
		return false;
	for (i = 0; i < a->n_frames; i++) {
		const struct sym_frame *x = &a->frames[i], *y = &b->frames[i];

		if (!x->function != !y->function || !x->file != !y->file ||
		    x->line != y->line ||
		    (x->function && strcmp(x->function, y->function)) ||
		    (x->file && strcmp(x->file, y->file)))
			return false;
	}
	return true;
}

/* Inline chains through the per-unit scope index (a sym_index) are the
 * ones libdw's own walks give (no index): at every step-th code address
 * of path. Returns the mismatches; *inlined counts addresses with an
 * inlined frame. */
static long scope_mismatches(const char *path, uint64_t step, long *checked,
			     long *inlined)
{
	struct sym_index *ix;
	Elf_Scn *scn = NULL;
	Dwarf_Addr bias;
	Dwfl_Module *m;
	long bad = 0;
	Dwfl *d;
	Elf *elf;

	m = offline_module(path, &d);
	assert_non_null(dwfl_module_getdwarf(m, &bias));
	ix = sym_index__new(m);
	assert_non_null(ix);
	elf = dwfl_module_getelf(m, &bias);
	assert_non_null(elf);
	*checked = *inlined = 0;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		uint64_t a;

		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		for (a = sh.sh_addr; a < sh.sh_addr + sh.sh_size; a += step) {
			struct sym_result want = { 0 }, got = { 0 };

			assert_int_equal(symbolize__module_addr(m, NULL, a, &want), 0);
			assert_int_equal(symbolize__module_addr(m, ix, a, &got), 0);
			(*checked)++;
			if (got.n_frames > 1)
				(*inlined)++;
			if (!frames_equal(&want, &got) && bad++ < 5)
				fprintf(stderr, "%s 0x%llx: %d frames, not %d (%s)\n",
					path, (unsigned long long)a,
					want.n_frames, got.n_frames,
					got.n_frames ? got.frames[0].function : "");
			sym_result__clear(&want);
			sym_result__clear(&got);
		}
	}
	sym_index__free(ix);
	dwfl_end(d);
	return bad;
}

static void test_scope_index(void **state)
{
	char exe[4096];
	long checked, inlined;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	/* -O2 -g: the modules linked in here inline plenty */
	assert_int_equal(scope_mismatches(exe, 31, &checked, &inlined), 0);
	assert_true(checked > 1000);
	assert_true(inlined > 100);
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* A unit with no children with code (assembler's -g gives a bare
 * DW_TAG_compile_unit, as glibc's .S files do): its scope index is
 * empty, and every pc of it still comes back as libdw's walks name it. */
static void test_scope_bare_unit(void **state)
{
	char dir[] = "/tmp/memtel-symcache.XXXXXX", cmd[1024], path[512];
	long checked, inlined;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* untyped: gas then describes no subprogram */
	write_text(dir, "bare.S",
		   ".text\n.globl bare_fn\nbare_fn:\n\tnop\n\tnop\n\tret\n"
		   ".section .note.GNU-stack,\"\",@progbits\n");
	write_text(dir, "c.c",
		   "int bare_fn(void);\nint c_fn(void) { return bare_fn(); }\n");
	snprintf(cmd, sizeof(cmd),
		 "cc -shared -nostdlib -fPIC -O2 -g -o %s/bare.so %s/bare.S "
		 "%s/c.c", dir, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/bare.so", dir);
	assert_int_equal(scope_mismatches(path, 1, &checked, &inlined), 0);
	assert_true(checked > 3);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self),
		cmocka_unit_test(test_image),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_sym_index),
		cmocka_unit_test(test_scope_index),
		cmocka_unit_test(test_scope_bare_unit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
