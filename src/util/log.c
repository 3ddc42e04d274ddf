// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * log.c - diagnostics on stderr. Every line carries the "memtel-bpf: "
 * prefix so scripts and tests can tell our lines from the target's.
 */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

bool mt_verbose;

static void vlog(const char *fmt, va_list ap)
{
	fputs("memtel-bpf: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void mt_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void mt_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void mt_debug(const char *fmt, ...)
{
	va_list ap;

	if (!mt_verbose)
		return;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
