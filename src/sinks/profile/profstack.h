/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * profstack.h - the one stack translator of the profile sinks: an interned
 * stack (pids and pcs) becomes dictionary locations (pprof files, OTLP
 * profiles) or flame graph names, asking the symbolize stage (symcache)
 * for each pc's frames.
 */
#ifndef MEMTEL_PROFSTACK_H
#define MEMTEL_PROFSTACK_H

#include <stddef.h>
#include <stdint.h>

#include "model/stacks.h"
#include "sinks/profile/profdict.h"
#include "symbolize/symcache.h"

/* Room for the deepest stack the collector keeps, inlined frames aside. */
#define PROFSTACK_MAX_FRAMES 256

struct profstack;

/* A translator into d (both not owned). NULL with errno set on failure. */
struct profstack *profstack__new(struct profdict *d, struct symcache *sc);
void profstack__free(struct profstack *ps);
/* Location indices of stack v, leaf first, into ids (room for max).
 * Each (pid, pc) is translated once. Returns how many were written; a
 * failure is recorded in the dictionary's err. */
size_t profstack__locations(struct profstack *ps, const struct stack_view *v,
			    uint64_t *ids, size_t max);
/* Display names of a stack, ROOT FIRST as flame graphs want them, inlined
 * frames expanded; kernel frames get a "_[k]" suffix (flamegraph.pl's
 * convention), unknown ones their address. names[] point into the symbol
 * cache or into buf. Returns how many were written (<= max). */
size_t profstack__names(struct symcache *sc, const struct stack_view *v,
			const char **names, size_t max, char *buf,
			size_t buf_len);

#endif /* MEMTEL_PROFSTACK_H */
