/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libdeep.h - the shared-library middle of the deepchain workload: two
 * frames that sit between executable frames, so an unwinder has to cross
 * the executable/library boundary in both directions (see deepchain.c).
 */
#ifndef MEMTEL_LIBDEEP_H
#define MEMTEL_LIBDEEP_H

/* The executable's callback: lib_b4 calls it, it returns into lib_b4. */
typedef unsigned long (*deep_cb)(unsigned long x);

/* lib_b3 calls lib_b4, which calls cb(x); both return cb's result. */
unsigned long lib_b3(deep_cb cb, unsigned long x);
unsigned long lib_b4(deep_cb cb, unsigned long x);

#endif /* MEMTEL_LIBDEEP_H */
