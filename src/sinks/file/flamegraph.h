/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * flamegraph.h - aggregate weighted call stacks into a prefix tree and write
 * them as Brendan Gregg's folded text (`cpu.folded`, readable by
 * flamegraph.pl, speedscope, inferno) or as a self-contained interactive SVG
 * flame graph (`cpu.svg`, `heap.svg`) with hover details, click-to-zoom and
 * search, all in inline script (flamegraph.js and flamegraph.css, embedded
 * at build time) so the file opens offline in any browser. Both files are
 * written with outfile__write(): whole or not at all, a link planted at
 * the name replaced, never followed.
 */
#ifndef MEMTEL_FLAMEGRAPH_H
#define MEMTEL_FLAMEGRAPH_H

#include <stddef.h>
#include <stdint.h>

struct flamegraph;

struct flamegraph_opts {
	const char *title;	/* NULL: "Flame Graph" */
	const char *subtitle;	/* NULL or "": none */
	const char *unit;	/* "samples" (NULL), "bytes" (shown as KiB,
				 * MiB, ...) or any other word, shown as is */
	const char *palette;	/* "hot" (NULL, CPU) or "mem" (heap) */
};

/* New empty graph; NULL with errno set on failure. */
struct flamegraph *flamegraph__new(void);
/* Free the graph; NULL is a no-op. */
void flamegraph__free(struct flamegraph *fg);

/* Add one stack, ROOT FIRST (frames[0] is the outermost, e.g. "main"), with
 * a weight (samples or bytes). Names are copied; "" is stored as "[unknown]".
 * Equal stacks merge; value 0 is a no-op. 0, -EINVAL (NULL, n == 0),
 * -EOVERFLOW (total would pass UINT64_MAX) or -ENOMEM. */
int flamegraph__add(struct flamegraph *fg, const char *const *frames, size_t n,
		    uint64_t value);

/* Write folded stacks, flamegraph.pl-compatible: one line per distinct stack
 * "root;child;leaf VALUE" with its self weight, sorted by stack in byte (C
 * locale) order. Inside names ';' becomes ':' and ASCII control characters
 * (newline, CR, tab, ...) become ' '; stacks made equal by this merge.
 * Written atomically (util/fileio.h). 0 or -errno (-ENOSPC when the disk
 * is full, the final name then untouched). */
int flamegraph__write_folded(const struct flamegraph *fg, const char *path);

/* Write an interactive SVG flame graph, root at the bottom; o may be NULL.
 * Frames narrower than 0.1% of the total are omitted. Written atomically.
 * 0, -EINVAL (unknown palette) or -errno. */
int flamegraph__write_svg(const struct flamegraph *fg, const char *path,
			  const struct flamegraph_opts *o);

/* Sum of all values added (0 for NULL). */
uint64_t flamegraph__total(const struct flamegraph *fg);

#endif /* MEMTEL_FLAMEGRAPH_H */
