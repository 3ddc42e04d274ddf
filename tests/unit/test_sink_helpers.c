// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_sink_helpers.c - the two util functions the file sinks added:
 * outfile__error() gives a failed write's errno (ENOSPC on a full device,
 * not EIO), and utf8__seq_len() measures one well-formed UTF-8 sequence
 * and refuses overlongs, surrogates, code points past U+10FFFF and
 * sequences cut by a NUL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/fileio.h"
#include "util/utf8.h"

static void test_outfile_error_full_device(void **state)
{
	char chunk[4096];
	FILE *f = fopen("/dev/full", "w");
	int i;
	(void)state;

	assert_non_null(f);
	memset(chunk, 'x', sizeof(chunk));
	errno = 0;
	assert_int_equal(outfile__error(f), 0);
	/* more than the stdio buffer: the write reaches the device */
	for (i = 0; i < 4 && !ferror(f); i++)
		fwrite(chunk, 1, sizeof(chunk), f);
	assert_true(ferror(f));
	assert_int_equal(outfile__error(f), -ENOSPC);
	errno = 0;	/* the cause lost: still an error */
	assert_int_equal(outfile__error(f), -EIO);
	fclose(f);
}

static void test_utf8_seq_len(void **state)
{
	(void)state;
	assert_int_equal(utf8__seq_len("a"), 1);
	assert_int_equal(utf8__seq_len(""), 1);		/* the NUL */
	assert_int_equal(utf8__seq_len("\xc3\xa9"), 2);		/* e-acute */
	assert_int_equal(utf8__seq_len("\xe2\x82\xac"), 3);	/* euro */
	assert_int_equal(utf8__seq_len("\xef\xbf\xbe"), 3);	/* U+FFFE */
	assert_int_equal(utf8__seq_len("\xf0\x9f\x94\xa5"), 4);	/* U+1F525 */
	assert_int_equal(utf8__seq_len("\xc0\xaf"), 0);		/* overlong */
	assert_int_equal(utf8__seq_len("\xe0\x80\xaf"), 0);	/* overlong */
	assert_int_equal(utf8__seq_len("\xed\xa0\x80"), 0);	/* surrogate */
	assert_int_equal(utf8__seq_len("\xf4\x90\x80\x80"), 0);	/* > U+10FFFF */
	assert_int_equal(utf8__seq_len("\xff"), 0);
	assert_int_equal(utf8__seq_len("\x80"), 0);		/* lone tail */
	assert_int_equal(utf8__seq_len("\xe2\x82"), 0);		/* cut by NUL */
	assert_int_equal(utf8__seq_len("\xf0\x9f\x94"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_outfile_error_full_device),
		cmocka_unit_test(test_utf8_seq_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
