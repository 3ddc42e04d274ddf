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
/* Draw line as the status line, in place of the last one (the caller
 * checks that stderr is a terminal). */
void mt_status(const char *line);
/* Erase the status line if one is shown; every line above does it first. */
void mt_status_clear(void);
/* Details shown only with -v. */
void mt_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* MEMTEL_LOG_H */
