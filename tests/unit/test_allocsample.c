// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_allocsample.c - unit tests for finding an allocator's sampled
 * path: the two call sites of tcmalloc 2.10's (Debian's bytes, and
 * near misses that must not match), the sites in Debian's installed
 * libraries when present, and jemalloc's configuration strings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "attach/allocsample.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu/"

static const uint64_t prepend[] = { 0x152c0, 0x282f0 };
static const uint64_t remove_[] = { 0x154a0, 0x28290 };

/* DoSampledAllocation, libtcmalloc.so.4 (gperftools 2.10-1) at 0x18476:
 * ... mov %rax,0x20(%r12); mov %r12,%rsi; lea sampled_objects_,%rdi;
 * orb $0x4,0x2b(%r12); call DLL_Prepend@plt; ...; shl $0xd,%r12 */
static const uint8_t sampled_alloc[] = {
	0xb9, 0x21, 0x00, 0x00, 0x00, 0x48, 0x89, 0xc7, 0xf3, 0x48, 0xa5,
	0x49, 0x89, 0x44, 0x24, 0x20, 0x4c, 0x89, 0xe6, 0x48, 0x8d, 0x3d,
	0x50, 0xc3, 0x1b, 0x00, 0x41, 0x80, 0x4c, 0x24, 0x2b, 0x04, 0xe8,
	0x25, 0xce, 0xff, 0xff, 0x49, 0x8b, 0x04, 0x24, 0x0f, 0xb7, 0xd0,
	0x66, 0x31, 0xc0, 0x0c, 0x80, 0x48, 0x89, 0x04, 0xd3, 0x4d, 0x8b,
	0x24, 0x24, 0x49, 0xc1, 0xe4, 0x0d,
};

/* do_free_pages at 0x19461: testb $0x4,0x2b(%rbp); je; mov %rbp,%rdi;
 * mov 0x20(%rbp),%rbx; call DLL_Remove@plt */
static const uint8_t sampled_free[] = {
	0xf6, 0x45, 0x2b, 0x04, 0x74, 0x2c, 0x48, 0x89, 0xef, 0x48, 0x8b,
	0x5d, 0x20, 0xe8, 0x2d, 0xc0, 0xff, 0xff,
};

static void scan(const uint8_t *code, size_t len, uint64_t vaddr,
		 struct allocsample_tc_sites *out)
{
	assert_int_equal(allocsample__scan_tcmalloc(code, len, vaddr, prepend,
						    2, remove_, 2, out), 0);
}

static void test_debian_alloc_site(void **state)
{
	struct allocsample_tc_sites s;

	(void)state;
	scan(sampled_alloc, sizeof(sampled_alloc), 0x18476, &s);
	assert_int_equal(s.n_alloc, 1);
	assert_int_equal(s.alloc[0], 0x18496);
	assert_int_equal(s.page_shift, 13);
	assert_int_equal(s.n_free, 0);
}

static void test_debian_free_site(void **state)
{
	struct allocsample_tc_sites s;

	(void)state;
	scan(sampled_free, sizeof(sampled_free), 0x19461, &s);
	assert_int_equal(s.n_free, 1);
	assert_int_equal(s.free[0], 0x1946e);
	assert_int_equal(s.n_alloc, 0);
}

/* The same calls without the sample bit (the central free list's and
 * the page heap's), with another bit or byte, or with a call between
 * (the bit belongs to something else): no site. */
static void test_near_misses(void **state)
{
	struct allocsample_tc_sites s;
	uint8_t code[sizeof(sampled_alloc)];
	uint8_t fcode[sizeof(sampled_free)];

	(void)state;
	memcpy(code, sampled_alloc, sizeof(code));
	code[31] = 0x08;		/* orb $0x8: another bit field */
	scan(code, sizeof(code), 0x18476, &s);
	assert_int_equal(s.n_alloc, 0);
	memcpy(code, sampled_alloc, sizeof(code));
	code[30] = 0x2a;		/* byte 0x2a: not the sample bit */
	scan(code, sizeof(code), 0x18476, &s);
	assert_int_equal(s.n_alloc, 0);
	memcpy(code, sampled_alloc, sizeof(code));
	code[33] = 0x26;		/* the call goes elsewhere */
	scan(code, sizeof(code), 0x18476, &s);
	assert_int_equal(s.n_alloc, 0);
	/* andb $0xfb (PageHeap::Delete clearing the bit) is no set */
	memcpy(code, sampled_alloc, sizeof(code));
	code[27] = 0x80; code[28] = 0x64; code[31] = 0xfb;
	scan(code, sizeof(code), 0x18476, &s);
	assert_int_equal(s.n_alloc, 0);
	/* a testb then a DLL_Prepend: not the free site either */
	memcpy(fcode, sampled_free, sizeof(fcode));
	fcode[14] = 0x4d;	/* call 0x152c0, DLL_Prepend@plt */
	fcode[15] = 0xbe;
	scan(fcode, sizeof(fcode), 0x19461, &s);
	assert_int_equal(s.n_free, 0);
	assert_int_equal(s.n_alloc, 0);
	/* undecodable bytes are stepped over */
	scan((const uint8_t *)"\x06\x06\x06", 3, 0x1000, &s);
	assert_int_equal(s.n_alloc + s.n_free, 0);
}

/* Debian's libraries, where installed: the full tcmalloc has exactly one
 * site of each; the minimal one samples nothing (NO_TCMALLOC_SAMPLES). */
static void test_installed(void **state)
{
	struct allocsample_tc_sites s;
	uint64_t delta;

	(void)state;
	if (access(LIBDIR "libtcmalloc.so.4.5.10", R_OK)) {
		skip();
		return;
	}
	assert_int_equal(allocsample__tc_file(LIBDIR "libtcmalloc.so.4.5.10",
					      &s, &delta), 0);
	assert_int_equal(s.n_alloc, 1);
	assert_int_equal(s.n_free, 1);
	assert_int_equal(s.alloc[0] + delta, 0x18496);
	assert_int_equal(s.free[0] + delta, 0x1946e);
	assert_int_equal(s.page_shift, 13);
	if (!access(LIBDIR "libtcmalloc_minimal.so.4.5.10", R_OK)) {
		assert_int_equal(allocsample__tc_file(LIBDIR "libtcmalloc_minimal.so.4.5.10",
						      &s, &delta), 0);
		assert_int_equal(s.n_alloc, 0);
	}
	if (!access(LIBDIR "libjemalloc.so.2", R_OK))
		assert_int_equal(allocsample__tc_file(LIBDIR "libjemalloc.so.2",
						      &s, &delta), -ENOENT);
}

static void test_jemalloc_conf(void **state)
{
	bool prof = false, active = true;

	(void)state;
	allocsample__jemalloc_conf("prof:true", &prof, &active);
	assert_true(prof && active);
	allocsample__jemalloc_conf("lg_prof_sample:19,prof_active:false",
				   &prof, &active);
	assert_true(prof && !active);
	/* later options win, within a string and across sources */
	allocsample__jemalloc_conf("prof_active:false,prof_active:true,prof:false",
				   &prof, &active);
	assert_true(!prof && active);
	allocsample__jemalloc_conf("", &prof, &active);
	allocsample__jemalloc_conf("junk,prof,:x,prof:truex", &prof, &active);
	assert_false(prof);
	allocsample__jemalloc_conf("narenas:4,prof:true,", &prof, &active);
	assert_true(prof);
	allocsample__jemalloc_conf(NULL, &prof, &active);
	assert_true(prof);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian_alloc_site),
		cmocka_unit_test(test_debian_free_site),
		cmocka_unit_test(test_near_misses),
		cmocka_unit_test(test_installed),
		cmocka_unit_test(test_jemalloc_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
