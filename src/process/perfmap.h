/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * perfmap.h - the symbols of a JIT's /tmp/perf-PID.map ("START SIZE name",
 * hex, one per line; perf's convention), parsed from text the target wrote.
 * The text is untrusted: lines and names are bounded, overflowing ranges
 * clamped, and text can be fed in pieces as the file grows.
 */
#ifndef MEMTEL_PERFMAP_H
#define MEMTEL_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

/* Largest perf map read (a JIT announcing a million methods stays far
 * below: ~60 bytes a line). */
#define PERFMAP_MAX_BYTES (64u << 20)
/* Longer names are cut (C++/Java signatures stay well below). */
#define PERFMAP_NAME_MAX 1024

struct perfmap_sym {
	uint64_t start, end;
	char *name;
};

/* A zeroed struct is an empty map. */
struct perfmap {
	struct perfmap_sym *v;
	size_t n, cap;
};

/* Add the symbols of every complete line ('\n'-terminated) of text[0..len)
 * and sort; *used (if not NULL) gets the bytes consumed, so the rest of a
 * partial last line can be fed again once complete. Malformed lines are
 * skipped. 0 or -ENOMEM (what was parsed so far is kept). */
int perfmap__parse(struct perfmap *pm, const char *text, size_t len,
		   size_t *used);
/* The symbol starting last at or below addr if it covers addr (of
 * overlapping ranges the later start wins), or NULL. */
const struct perfmap_sym *perfmap__find(const struct perfmap *pm,
					uint64_t addr);
/* Drop every symbol (keeps nothing). NULL-safe. */
void perfmap__clear(struct perfmap *pm);

#endif /* MEMTEL_PERFMAP_H */
