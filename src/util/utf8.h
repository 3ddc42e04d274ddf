/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * utf8.h - strings a target chose (function names from its ELF files,
 * thread names, paths, perf-map entries) must be valid UTF-8 before they go
 * into a protobuf `string` field: OTLP receivers reject or mangle a request
 * with invalid UTF-8, so one bad name would cost a whole export.
 */
#ifndef MEMTEL_UTIL_UTF8_H
#define MEMTEL_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s: 1 for ASCII (NUL
 * included), 2 to 4, or 0 if the bytes there are not one. Never reads
 * past a NUL. */
size_t utf8__seq_len(const char *s);
/* Is s (NUL-terminated) valid UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF)? */
bool utf8__valid(const char *s);
/* s if it is valid UTF-8; else a malloc'ed copy with every invalid byte
 * replaced by U+FFFD, which the caller frees (*copy set to it, else NULL).
 * NULL only when that allocation fails. */
const char *utf8__sanitize(const char *s, char **copy);

#endif /* MEMTEL_UTIL_UTF8_H */
