/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * arena.h - a region allocator for building protobuf-c message trees that
 * are packed once and then freed in one go.
 */
#ifndef MEMTEL_ARENA_H
#define MEMTEL_ARENA_H

#include <stdbool.h>
#include <stddef.h>

struct arena {
	char **blocks;
	size_t n, cap;
	bool failed;	/* an allocation failed: the tree is incomplete */
};

/* Zeroed memory owned by a, or NULL (and a->failed set). */
void *arena__alloc(struct arena *a, size_t size);
/* A copy of s owned by a (NULL in, NULL out). */
char *arena__strdup(struct arena *a, const char *s);
void arena__free(struct arena *a);

#endif /* MEMTEL_ARENA_H */
