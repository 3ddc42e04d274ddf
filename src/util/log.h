/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * log.h - one-line diagnostics on stderr, all prefixed "memtel-bpf: ".
 */
#ifndef MEMTEL_LOG_H
#define MEMTEL_LOG_H

#include <stdbool.h>

extern bool mt_verbose;

/* An error or a notice a user must see. */
void mt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress a user may want (always shown). */
void mt_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Details shown only with -v. */
void mt_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* MEMTEL_LOG_H */
