// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * arena.c - every allocation is its own calloc() block, remembered in an
 * array; simple, and the trees it serves are small and short-lived.
 */
#include <stdlib.h>
#include <string.h>

#include "util/arena.h"

void *arena__alloc(struct arena *a, size_t size)
{
	void *p;

	if (a->failed)
		return NULL;
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		char **nb = realloc(a->blocks, cap * sizeof(*nb));

		if (!nb) {
			a->failed = true;
			return NULL;
		}
		a->blocks = nb;
		a->cap = cap;
	}
	p = calloc(1, size ? size : 1);
	if (!p) {
		a->failed = true;
		return NULL;
	}
	a->blocks[a->n++] = p;
	return p;
}

char *arena__strdup(struct arena *a, const char *s)
{
	size_t len;
	char *p;

	if (!s)
		return NULL;
	len = strlen(s) + 1;
	p = arena__alloc(a, len);
	if (p)
		memcpy(p, s, len);
	return p;
}

void arena__free(struct arena *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->blocks[i]);
	free(a->blocks);
	a->blocks = NULL;
	a->n = a->cap = 0;
	a->failed = false;
}
