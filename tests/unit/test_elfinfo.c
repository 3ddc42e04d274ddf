// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_elfinfo.c - unit tests for elfinfo against this machine's libc (symbol
 * values cross-checked with `nm -D`, file offsets with the program headers,
 * build ID with `readelf -n`), our own executable's .symtab, and tiny static
 * binaries built on the fly when the toolchain can.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "process/elfinfo.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"
/* glibc 2.36 (Debian 12) seen when these tests were written */
#define LIBC_KNOWN_BUILD_ID "93ac61ec5a8eb1396f9fbd350e3169a558528a40"

/* Default-version address of `name` from `nm -D`, 0 if not found. */
static uint64_t nm_dynamic_addr(const char *path, const char *name)
{
	char cmd[PATH_MAX + 64], line[512], sym[256];
	unsigned long long addr, found = 0;
	char type;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s' 2>/dev/null",
		 path);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(name);

		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) != 3)
			continue;
		if (!strncmp(sym, name, n) &&
		    (sym[n] == '\0' || !strncmp(sym + n, "@@", 2)))
			found = addr;
	}
	pclose(f);
	return found;
}

/* File offset of vaddr computed straight from the ELF64 program headers. */
static uint64_t phdr_file_offset(const char *path, uint64_t vaddr)
{
	uint64_t ret = UINT64_MAX;
	Elf64_Ehdr eh;
	int fd, i;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &eh, sizeof(eh), 0), sizeof(eh));
	assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		assert_int_equal(pread(fd, &ph, sizeof(ph),
				       eh.e_phoff + (off_t)i * eh.e_phentsize),
				 sizeof(ph));
		if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
		    vaddr < ph.p_vaddr + ph.p_filesz) {
			ret = vaddr - ph.p_vaddr + ph.p_offset;
			break;
		}
	}
	close(fd);
	return ret;
}

static bool libc_is_known(void)
{
	char id[129];

	return elfinfo__build_id(LIBC, id, sizeof(id)) == 0 &&
	       !strcmp(id, LIBC_KNOWN_BUILD_ID);
}

static void check_libc_func(const char *name)
{
	struct elf_func f = {};
	uint64_t want;

	assert_int_equal(elfinfo__find_func(LIBC, name, &f), 0);
	want = nm_dynamic_addr(LIBC, name);
	if (want)	/* nm present: the symbol value must agree */
		assert_true(f.vaddr == want);
	assert_true(f.file_offset == phdr_file_offset(LIBC, f.vaddr));
	assert_true(f.size > 0);
}

static void test_libc_funcs(void **state)
{
	(void)state;
	check_libc_func("malloc");
	check_libc_func("free");
	check_libc_func("calloc");	/* a weak symbol in libc */
	check_libc_func("realloc");
}

static void test_libc_prologue_bytes(void **state)
{
	static const uint8_t push_r12[] = { 0x41, 0x54 };
	static const uint8_t test_rdi[] = { 0x48, 0x85, 0xff };
	struct elf_func f;
	uint8_t buf[16];

	(void)state;
	assert_int_equal(elfinfo__find_func(LIBC, "malloc", &f), 0);
	assert_int_equal(elfinfo__read_bytes(LIBC, f.file_offset, buf,
					     sizeof(buf)), sizeof(buf));
	if (!libc_is_known())
		skip();
	/* objdump -d: malloc starts `push %r12`, free `test %rdi,%rdi` */
	assert_memory_equal(buf, push_r12, sizeof(push_r12));
	assert_int_equal(elfinfo__find_func(LIBC, "free", &f), 0);
	assert_int_equal(elfinfo__read_bytes(LIBC, f.file_offset, buf,
					     sizeof(buf)), sizeof(buf));
	assert_memory_equal(buf, test_rdi, sizeof(test_rdi));
}

static void test_versions(void **state)
{
	struct elf_func f;
	uint64_t want;

	(void)state;
	/* realpath@GLIBC_2.2.5 and realpath@@GLIBC_2.3: take the default */
	assert_int_equal(elfinfo__find_func(LIBC, "realpath", &f), 0);
	want = nm_dynamic_addr(LIBC, "realpath");
	if (want)
		assert_true(f.vaddr == want);
}

static void test_missing(void **state)
{
	struct elf_func f;
	char id[129];

	(void)state;
	assert_int_equal(elfinfo__find_func(LIBC, "no_such_function_xyz", &f),
			 -ENOENT);
	/* prefixes and extensions of a name do not match */
	assert_int_equal(elfinfo__find_func(LIBC, "mallo", &f), -ENOENT);
	/* data objects are not functions */
	assert_int_equal(elfinfo__find_func(LIBC, "environ", &f), -ENOENT);
	assert_int_equal(elfinfo__find_func("/nonexistent/libx.so", "malloc",
					    &f), -ENOENT);
	assert_true(elfinfo__find_func("/etc/passwd", "malloc", &f) < 0);
	assert_true(elfinfo__build_id("/nonexistent/x", id, sizeof(id)) < 0);
	assert_true(elfinfo__read_bytes("/nonexistent/x", 0, (uint8_t *)id, 4) ==
		    -ENOENT);
	assert_false(elfinfo__is_static("/nonexistent/x"));
	assert_false(elfinfo__is_static("/etc/passwd"));
}

static void test_read_bytes(void **state)
{
	static const uint8_t magic[] = { 0x7f, 'E', 'L', 'F' };
	uint8_t buf[8];
	struct elf_func f;
	long size;
	FILE *fp;

	(void)state;
	assert_int_equal(elfinfo__read_bytes(LIBC, 0, buf, 4), 4);
	assert_memory_equal(buf, magic, 4);

	fp = fopen(LIBC, "r");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	size = ftell(fp);
	fclose(fp);
	/* short read at EOF, 0 past it */
	assert_int_equal(elfinfo__read_bytes(LIBC, size - 3, buf, sizeof(buf)),
			 3);
	assert_int_equal(elfinfo__read_bytes(LIBC, size + 100, buf,
					     sizeof(buf)), 0);
	assert_int_equal(elfinfo__find_func(LIBC, "free", &f), 0);
}

static void test_build_id(void **state)
{
	char id[129], line[512], want[129] = "";
	FILE *f;
	size_t i;

	(void)state;
	assert_int_equal(elfinfo__build_id(LIBC, id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 40);
	for (i = 0; i < 40; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));

	f = popen("readelf -n " LIBC " 2>/dev/null", "r");
	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, " Build ID: %128s", want) == 1)
				break;
		pclose(f);
	}
	if (want[0])
		assert_string_equal(id, want);

	/* 40 hex digits and the NUL need 41 bytes */
	assert_int_equal(elfinfo__build_id(LIBC, id, 41), 0);
	assert_int_equal(elfinfo__build_id(LIBC, id, 40), -ERANGE);
}

/* A function in our own .symtab (not exported to .dynsym). */
__attribute__((noinline)) int elfinfo_test_marker(int x);
__attribute__((noinline)) int elfinfo_test_marker(int x)
{
	return x * 3 + 1;
}

static void test_own_symtab(void **state)
{
	char exe[PATH_MAX];
	uint8_t buf[16];
	struct elf_func f;
	ssize_t n;

	(void)state;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(elfinfo__find_func(exe, "elfinfo_test_marker", &f), 0);
	assert_true(f.file_offset == phdr_file_offset(exe, f.vaddr));
	/* the text is mapped unrelocated, so file bytes == memory bytes */
	assert_int_equal(elfinfo__read_bytes(exe, f.file_offset, buf,
					     sizeof(buf)), sizeof(buf));
	assert_memory_equal(buf, (const void *)&elfinfo_test_marker,
			    f.size < sizeof(buf) ? f.size : sizeof(buf));
	assert_int_equal(elfinfo_test_marker(1), 4);
	assert_false(elfinfo__is_static(exe));
}

static void test_is_static_dynamic(void **state)
{
	(void)state;
	assert_false(elfinfo__is_static(LIBC));
	assert_false(elfinfo__is_static("/bin/ls"));
	/* a library with dependencies and no PT_INTERP */
	if (access("/lib/x86_64-linux-gnu/libm.so.6", F_OK) == 0)
		assert_false(elfinfo__is_static("/lib/x86_64-linux-gnu/libm.so.6"));
}

/* Build a tiny program with `cc flags`; false if the toolchain cannot. */
static bool build_tiny(const char *dir, const char *flags, char *out,
		       size_t len)
{
	char src[PATH_MAX], cmd[3 * PATH_MAX];
	FILE *f;

	snprintf(src, sizeof(src), "%s/tiny.c", dir);
	f = fopen(src, "w");
	if (!f)
		return false;
	fputs("#include <stdlib.h>\n"
	      "int main(void) { void *p = malloc(16); free(p); return 0; }\n",
	      f);
	fclose(f);
	snprintf(out, len, "%s/tiny%s", dir, flags);
	snprintf(cmd, sizeof(cmd), "cc %s -o '%s' '%s' >/dev/null 2>&1", flags,
		 out, src);
	return system(cmd) == 0;
}

static void test_is_static_built(void **state)
{
	char dir[] = "/tmp/elfinfo-test-XXXXXX", bin[PATH_MAX], cmd[PATH_MAX];
	bool any = false;
	struct elf_func f;
	char id[129];

	(void)state;
	assert_non_null(mkdtemp(dir));

	if (build_tiny(dir, "-static", bin, sizeof(bin))) {
		any = true;
		assert_true(elfinfo__is_static(bin));
		/* the allocator lives in the executable itself */
		assert_int_equal(elfinfo__find_func(bin, "malloc", &f), 0);
		assert_int_equal(elfinfo__build_id(bin, id, sizeof(id)), 0);
	}
	if (build_tiny(dir, "-static-pie", bin, sizeof(bin))) {
		any = true;
		assert_true(elfinfo__is_static(bin));
	}
	if (build_tiny(dir, "-pie", bin, sizeof(bin)))
		assert_false(elfinfo__is_static(bin));

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	if (!any)
		skip();
}

/* Sections and GOT slots, checked on libc against readelf's view: its
 * .text holds malloc; libc calls its exported malloc through a GOT slot
 * (for interposition), which must lie inside .got or .got.plt. */
static void test_section_got(void **state)
{
	struct elf_section text, got = { 0 }, gotplt = { 0 };
	struct elf_func f;
	uint64_t slot;
	bool in_got, in_gotplt;

	(void)state;
	assert_int_equal(elfinfo__section(LIBC, ".text", &text), 0);
	assert_int_equal(elfinfo__find_func(LIBC, "malloc", &f), 0);
	assert_true(f.vaddr >= text.vaddr && f.vaddr < text.vaddr + text.size);
	assert_int_equal(text.offset - text.vaddr,
			 f.file_offset - f.vaddr);
	assert_int_equal(elfinfo__section(LIBC, ".no-such", &text), -ENOENT);
	assert_int_equal(elfinfo__got_slot(LIBC, "malloc", &slot), 0);
	elfinfo__section(LIBC, ".got", &got);
	elfinfo__section(LIBC, ".got.plt", &gotplt);
	in_got = slot >= got.vaddr && slot < got.vaddr + got.size;
	in_gotplt = slot >= gotplt.vaddr && slot < gotplt.vaddr + gotplt.size;
	assert_true(in_got || in_gotplt);
	assert_int_equal(elfinfo__got_slot(LIBC, "no_such_function_x", &slot),
			 -ENOENT);
}

/* Bytes [off, off + len) of two fds are equal. */
static bool same_bytes(int a, int b, uint64_t off, uint64_t len)
{
	char x[4096], y[4096];

	while (len) {
		size_t n = len < sizeof(x) ? len : sizeof(x);

		if (pread(a, x, n, (off_t)off) != (ssize_t)n ||
		    pread(b, y, n, (off_t)off) != (ssize_t)n || memcmp(x, y, n))
			return false;
		off += n;
		len -= n;
	}
	return true;
}

/* A private copy holds what symbolization reads (headers, .eh_frame,
 * .dynsym, notes, the first and last 4 KiB) byte for byte and leaves code
 * and data out: a hole that costs no memory. */
static void test_sparse_copy(void **state)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh;
	struct stat orig, cp;
	bool saw_eh_frame = false, text_hole = false;
	char names[65536];
	int fd, copy, i;

	(void)state;
	elfinfo__copies_drop();
	copy = elfinfo__copy(LIBC, &orig);
	assert_true(copy >= 0);
	assert_int_equal(fstat(copy, &cp), 0);
	assert_int_equal(cp.st_size, orig.st_size);
	/* libc's code alone is more than half of it */
	assert_true((uint64_t)cp.st_blocks * 512 < (uint64_t)orig.st_size / 2);
	fd = open(LIBC, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(same_bytes(fd, copy, 0, 4096));
	assert_true(same_bytes(fd, copy, (uint64_t)orig.st_size - 4096, 4096));
	assert_int_equal(pread(fd, &eh, sizeof(eh), 0), sizeof(eh));
	assert_int_equal(pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff +
			 eh.e_shstrndx * sizeof(sh))), sizeof(sh));
	assert_true(sh.sh_size < sizeof(names));
	assert_int_equal(pread(fd, names, sh.sh_size, (off_t)sh.sh_offset),
			 (ssize_t)sh.sh_size);
	for (i = 1; i < eh.e_shnum; i++) {
		const char *name;

		assert_int_equal(pread(fd, &sh, sizeof(sh), (off_t)(eh.e_shoff +
				 i * sizeof(sh))), sizeof(sh));
		name = names + sh.sh_name;
		if (!strcmp(name, ".eh_frame") || !strcmp(name, ".dynsym") ||
		    !strcmp(name, ".eh_frame_hdr") ||
		    !strcmp(name, ".note.gnu.build-id")) {
			saw_eh_frame |= !strcmp(name, ".eh_frame");
			assert_true(same_bytes(fd, copy, sh.sh_offset, sh.sh_size));
		}
		if (!strcmp(name, ".text")) {
			char z[4096] = { 0 }, got[4096];

			assert_int_equal(pread(copy, got, sizeof(got),
					       (off_t)sh.sh_offset + 8192),
					 sizeof(got));
			text_hole = !memcmp(z, got, sizeof(z));
		}
	}
	assert_true(saw_eh_frame);
	assert_true(text_hole);
	close(fd);
	close(copy);
	elfinfo__copies_drop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_funcs),
		cmocka_unit_test(test_libc_prologue_bytes),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_read_bytes),
		cmocka_unit_test(test_build_id),
		cmocka_unit_test(test_sparse_copy),
		cmocka_unit_test(test_own_symtab),
		cmocka_unit_test(test_is_static_dynamic),
		cmocka_unit_test(test_is_static_built),
		cmocka_unit_test(test_section_got),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
