/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * random.h - the one source of random bytes (getrandom(2)) and the one
 * UUID generator: session ids, and names nobody can guess in advance
 * (the default output directory).
 */
#ifndef MEMTEL_UTIL_RANDOM_H
#define MEMTEL_UTIL_RANDOM_H

#include <stddef.h>

/* n random bytes into buf; EINTR retried, /dev/urandom where getrandom(2)
 * is missing. 0 or -errno. */
int random__bytes(void *buf, size_t n);
/* A random (version 4) UUID, lowercase, NUL-terminated. 0 or -errno. */
int random__uuid4(char out[37]);

#endif /* MEMTEL_UTIL_RANDOM_H */
