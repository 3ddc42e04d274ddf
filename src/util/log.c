// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * log.c - diagnostics on stderr. Every line carries the "memtel-bpf: "
 * prefix so scripts and tests can tell our lines from the target's. A
 * live status line (on a terminal only) is erased before any other line
 * is printed, so the two never share a row.
 */
#include <stdarg.h>
#include <stdio.h>

#include "util/log.h"

bool mt_verbose;
static bool status_shown;

void mt_status(const char *line)
{
	/* back to column 0, the new text, then erase what the old one left */
	fprintf(stderr, "\r%s\033[K", line);
	status_shown = true;
}

void mt_status_clear(void)
{
	if (!status_shown)
		return;
	fputs("\r\033[K", stderr);
	status_shown = false;
}

static void vlog(const char *fmt, va_list ap)
{
	mt_status_clear();
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
