// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * status.c - the text of the live status line. It is cut to the
 * terminal's width: a line that wrapped could not be rewritten in place
 * with a carriage return.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli/status.h"
#include "util/fmt.h"

/* Append to buf at *used, keeping it NUL-terminated. */
static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void put(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n < len - *used ? (size_t)n : len - *used - 1;
}

const char *status__format(const struct status_figures *f, size_t width,
			   char *buf, size_t len)
{
	unsigned long long s = f->elapsed_s > 0 ? (unsigned long long)f->elapsed_s
						: 0;
	char live[32];
	size_t used = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	put(buf, len, &used, "memtel-bpf: %llu:%02llu:%02llu | %llu process%s",
	    s / 3600, s / 60 % 60, s % 60, (unsigned long long)f->processes,
	    f->processes == 1 ? "" : "es");
	if (f->heap) {
		fmt__bytes(f->live_bytes, live, sizeof(live));
		put(buf, len, &used,
		    " | alloc calls %llu, sampled %llu | live %s",
		    (unsigned long long)f->calls,
		    (unsigned long long)f->sampled, live);
		if (f->paused)
			put(buf, len, &used, " | heap probes paused");
		if (f->partial)
			put(buf, len, &used, " (on %.0f%%)",
			    100 * f->on_fraction);
	}
	if (f->cpu)
		put(buf, len, &used, " | CPU samples %llu",
		    (unsigned long long)f->cpu_samples);
	put(buf, len, &used, " | dropped %llu", (unsigned long long)f->dropped);
	if (width && used >= width)
		buf[width - 1] = '\0';
	return buf;
}
