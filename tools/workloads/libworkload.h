/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libworkload.h - allocation sites that live in a shared library, so tests
 * see heap samples whose leaf frame is in a DSO built without frame pointers
 * rather than in the main executable.
 */
#ifndef MEMTEL_LIBWORKLOAD_H
#define MEMTEL_LIBWORKLOAD_H

#include <stddef.h>

/* malloc() n blocks of `size` bytes, each called from lib_alloc_site itself.
 * With keep non-NULL the blocks are stored in keep[0..n) and owned by the
 * caller; with keep NULL each block is freed right after it is allocated. */
void lib_alloc_site(int n, size_t size, void **keep);

#endif /* MEMTEL_LIBWORKLOAD_H */
