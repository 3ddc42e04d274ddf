/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symcache.h - the symbolize stage for sinks: (pid, image, pc) -> frames,
 * each pc symbolized once per session; kernel addresses through kallsyms. The
 * profile sinks turn stacks into locations and names with
 * sinks/profile/profstack.h, which asks this cache for frames.
 */
#ifndef MEMTEL_SYMCACHE_H
#define MEMTEL_SYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/ksyms.h"
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
/* Frames of pc in image `image` (targets__image) of process pid (kernel
 * pcs ignore both). Never NULL: an unknown pc gives a result with no
 * module and no frames, as does a pc of an image no longer open that was
 * not primed while it was. The result may be overwritten by the next
 * call. */
const struct sym_result *symcache__get(struct symcache *sc, uint32_t pid,
				       uint32_t image, uint64_t pc,
				       bool is_return);

#endif /* MEMTEL_SYMCACHE_H */
