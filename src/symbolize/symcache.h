/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symcache.h - the symbolize stage for sinks: (pid, pc) -> frames, each pc
 * symbolized once per session; kernel addresses through kallsyms. Also
 * maps interned stacks to pprof location ids and to folded frame names.
 */
#ifndef MEMTEL_SYMCACHE_H
#define MEMTEL_SYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/ksyms.h"
#include "sinks/file/pprof.h"
#include "model/stacks.h"
#include "symbolize/symbolize.h"
#include "process/targets.h"

struct symcache;

/* ks may be NULL (kernel frames then stay addresses). */
struct symdb;
/* db: the session's symbol database (not owned). */
struct symcache *symcache__new(struct targets *tg, struct ksyms *ks,
			       struct symdb *db);
void symcache__free(struct symcache *sc);
/* Translate and symbolize every pc of a new stack now, while its process
 * is alive; later lookups are served from the cache. */
void symcache__prime(struct symcache *sc, const struct stack_view *v);
/* Frames of pc in process pid (kernel pcs ignore pid). Never NULL: an
 * unknown pc gives a result with no module and no frames. The result may
 * be overwritten by the next call. */
const struct sym_result *symcache__get(struct symcache *sc, uint32_t pid,
				       uint64_t pc, bool is_return);
/* Display names of a stack, ROOT FIRST as flame graphs want them, inlined
 * frames expanded; kernel frames get a "_[k]" suffix (flamegraph.pl's
 * convention). names[] point into the cache (or into buf for addresses).
 * Returns how many were written (<= max). */
size_t symcache__names(struct symcache *sc, const struct stack_view *v,
		       const char **names, size_t max, char *buf,
		       size_t buf_len);

/* pprof locations for a stack (leaf first); ids has room for max. */
struct pprof_locs;
struct pprof_locs *pprof_locs__new(struct pprof_builder *b,
				   struct symcache *sc);
void pprof_locs__free(struct pprof_locs *pl);
size_t pprof_locs__stack(struct pprof_locs *pl, const struct stack_view *v,
			 uint64_t *ids, size_t max);

#endif /* MEMTEL_SYMCACHE_H */
