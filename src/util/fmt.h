/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fmt.h - the one formatter for figures shown to a person.
 */
#ifndef MEMTEL_UTIL_FMT_H
#define MEMTEL_UTIL_FMT_H

#include <stddef.h>

/* Bytes in binary units ("512 B", "1.5 MiB"), written into buf. */
void fmt__bytes(double bytes, char *buf, size_t len);

#endif /* MEMTEL_UTIL_FMT_H */
