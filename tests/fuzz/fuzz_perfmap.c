// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_perfmap.c - /tmp/perf-PID.map text as a target may write it (any
 * bytes, NULs included), fed whole and then in two pieces the way a
 * growing file is read. Parsing must never crash or read past the input,
 * every symbol must be a non-empty range with a bounded name, and a split
 * feed must give the same symbols as a whole one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/perfmap.h"

static void check(const struct perfmap *pm)
{
	size_t i;

	for (i = 0; i < pm->n; i++) {
		const struct perfmap_sym *s = &pm->v[i];

		if (s->end <= s->start || !s->name || !s->name[0] ||
		    strlen(s->name) > PERFMAP_NAME_MAX)
			abort();
		if (i && s->start < pm->v[i - 1].start)
			abort();
		/* what starts at an address is found there */
		if (!perfmap__find(pm, s->start) ||
		    perfmap__find(pm, s->start)->start != s->start)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perfmap whole = { 0 }, split = { 0 };
	size_t used = 0, used2 = 0, cut = size ? data[0] % (size + 1) : 0;
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);	/* not NUL-terminated on purpose */
	perfmap__parse(&whole, text, size, &used);
	if (used > size)
		abort();
	check(&whole);

	perfmap__parse(&split, text, cut, &used2);
	perfmap__parse(&split, text + used2, size - used2, &used);
	check(&split);
	if (split.n != whole.n)
		abort();
	perfmap__clear(&whole);
	perfmap__clear(&split);
	free(text);
	return 0;
}
