// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symcache.c - per-session symbol cache and the stack -> pprof / folded
 * name translations every sink shares. A pc is looked up as pc - 1 when it
 * is a return address (every frame but an exact leaf), so the line of the
 * call is reported.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symcache.h"
#include "u64map.h"

struct symcache {
	struct targets *tg;
	struct ksyms *ks;
	struct u64map by_pid;	/* pid -> struct u64map * (key -> result *) */
	struct u64map kernel;	/* key -> struct sym_result * */
	struct sym_result unknown;
};

static inline uint64_t key_of(uint64_t pc, bool is_return)
{
	return (pc << 1) | is_return;
}

struct symcache *symcache__new(struct targets *tg, struct ksyms *ks)
{
	struct symcache *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->tg = tg;
	sc->ks = ks;
	return sc;
}

static void free_results(struct u64map *m)
{
	uint64_t k, v;
	size_t it = 0;

	while (u64map__next(m, &it, &k, &v)) {
		sym_result__clear((struct sym_result *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(m);
}

void symcache__free(struct symcache *sc)
{
	uint64_t k, v;
	size_t it = 0;

	if (!sc)
		return;
	while (u64map__next(&sc->by_pid, &it, &k, &v)) {
		free_results((struct u64map *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(&sc->by_pid);
	free_results(&sc->kernel);
	free(sc);
}

static int kernel_lookup(struct symcache *sc, uint64_t pc, bool is_return,
			 struct sym_result *r)
{
	const char *name;

	memset(r, 0, sizeof(*r));
	r->module = "[kernel.kallsyms]";
	r->mod_start = 0xffff800000000000ULL;
	r->mod_end = ~0ULL;
	name = ksyms__lookup(sc->ks, is_return ? pc - 1 : pc, NULL);
	if (name) {
		r->frames[0].function = strdup(name);
		if (!r->frames[0].function)
			return -ENOMEM;
		r->n_frames = 1;
	}
	return 0;
}

const struct sym_result *symcache__get(struct symcache *sc, uint32_t pid,
				       uint64_t pc, bool is_return)
{
	uint64_t key = key_of(pc, is_return), *hit;
	struct sym_result *r;
	struct u64map *m;
	struct target *t;
	int err;

	if (ksyms__is_kernel(pc)) {
		m = &sc->kernel;
	} else {
		hit = u64map__get(&sc->by_pid, pid);
		if (hit) {
			m = (struct u64map *)(uintptr_t)*hit;
		} else {
			m = calloc(1, sizeof(*m));
			if (!m)
				return &sc->unknown;
			if (u64map__set(&sc->by_pid, pid, (uintptr_t)m)) {
				free(m);
				return &sc->unknown;
			}
		}
	}
	hit = u64map__get(m, key);
	if (hit)
		return (struct sym_result *)(uintptr_t)*hit;

	r = calloc(1, sizeof(*r));
	if (!r)
		return &sc->unknown;
	if (ksyms__is_kernel(pc)) {
		err = kernel_lookup(sc, pc, is_return, r);
	} else {
		t = targets__find(sc->tg, (pid_t)pid);
		err = t ? symbolize__pc(t, pc, is_return, r) : 0;
	}
	if (err || u64map__set(m, key, (uintptr_t)r)) {
		sym_result__clear(r);
		free(r);
		return &sc->unknown;
	}
	return r;
}

size_t symcache__names(struct symcache *sc, const struct stack_view *v,
		       const char **names, size_t max, char *buf,
		       size_t buf_len)
{
	const char *tmp[512];
	size_t n = 0, used = 0, i;
	uint32_t k;

	/* collect leaf first, then reverse */
	for (k = 0; k < v->n && n < sizeof(tmp) / sizeof(tmp[0]); k++) {
		const struct sym_result *r;
		bool kernel = ksyms__is_kernel(v->pcs[k]);
		int f;

		r = symcache__get(sc, v->pid, v->pcs[k],
				  !(k == 0 && v->leaf_exact));
		for (f = 0; f < r->n_frames && n < sizeof(tmp) / sizeof(tmp[0]);
		     f++) {
			const char *fn = r->frames[f].function;
			int w;

			if (fn && !kernel) {
				tmp[n++] = fn;
				continue;
			}
			if (used >= buf_len)
				break;
			if (fn)
				w = snprintf(buf + used, buf_len - used,
					     "%s_[k]", fn);
			else
				w = snprintf(buf + used, buf_len - used,
					     "0x%llx", (unsigned long long)v->pcs[k]);
			if (w < 0 || (size_t)w >= buf_len - used)
				break;
			tmp[n++] = buf + used;
			used += (size_t)w + 1;
		}
		if (!r->n_frames && used < buf_len) {
			int w = snprintf(buf + used, buf_len - used, "%s0x%llx",
					 r->module ? "" : "",
					 (unsigned long long)v->pcs[k]);

			if (w > 0 && (size_t)w < buf_len - used) {
				tmp[n++] = buf + used;
				used += (size_t)w + 1;
			}
		}
	}
	if (n > max)
		n = max;
	for (i = 0; i < n; i++)
		names[i] = tmp[n - 1 - i];
	return n;
}

struct pprof_locs {
	struct pprof_builder *b;
	struct symcache *sc;
	struct u64map by_pid;	/* pid -> struct u64map * (key -> loc id) */
	struct u64map kernel;	/* key -> loc id */
	struct u64map maps;	/* mod_start -> mapping id (per file) */
};

struct pprof_locs *pprof_locs__new(struct pprof_builder *b,
				   struct symcache *sc)
{
	struct pprof_locs *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return NULL;
	pl->b = b;
	pl->sc = sc;
	return pl;
}

void pprof_locs__free(struct pprof_locs *pl)
{
	uint64_t k, v;
	size_t it = 0;

	if (!pl)
		return;
	while (u64map__next(&pl->by_pid, &it, &k, &v)) {
		u64map__free((struct u64map *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(&pl->by_pid);
	u64map__free(&pl->kernel);
	u64map__free(&pl->maps);
	free(pl);
}

static uint64_t mapping_id(struct pprof_locs *pl, const struct sym_result *r)
{
	uint64_t *hit, id;

	if (!r->module)
		return 0;
	/* a file can be mapped by several processes at different addresses:
	 * key on address and a hash of the name */
	hit = u64map__get(&pl->maps, r->mod_start ^ (uint64_t)(uintptr_t)r->module);
	if (hit)
		return *hit;
	id = pprof_builder__add_mapping(pl->b, r->mod_start, r->mod_end, 0,
					r->module,
					r->build_id[0] ? r->build_id : NULL,
					r->n_frames > 0,
					r->n_frames > 0 && r->frames[0].file,
					r->n_frames > 0 && r->frames[0].line > 0);
	if (id)
		u64map__set(&pl->maps,
			    r->mod_start ^ (uint64_t)(uintptr_t)r->module, id);
	return id;
}

static uint64_t location(struct pprof_locs *pl, uint32_t pid, uint64_t pc,
			 bool is_return)
{
	struct pprof_line lines[SYM_MAX_FRAMES];
	const struct sym_result *r;
	uint64_t key = key_of(pc, is_return), *hit, id;
	struct u64map *m;
	int i;

	if (ksyms__is_kernel(pc)) {
		m = &pl->kernel;
	} else {
		hit = u64map__get(&pl->by_pid, pid);
		if (hit) {
			m = (struct u64map *)(uintptr_t)*hit;
		} else {
			m = calloc(1, sizeof(*m));
			if (!m || u64map__set(&pl->by_pid, pid, (uintptr_t)m)) {
				free(m);
				return 0;
			}
		}
	}
	hit = u64map__get(m, key);
	if (hit)
		return *hit;
	r = symcache__get(pl->sc, pid, pc, is_return);
	for (i = 0; i < r->n_frames; i++)
		lines[i] = (struct pprof_line){
			.function = r->frames[i].function,
			.filename = r->frames[i].file,
			.line = r->frames[i].line,
		};
	id = pprof_builder__add_location(pl->b, mapping_id(pl, r), pc, lines,
					 (size_t)r->n_frames);
	if (id)
		u64map__set(m, key, id);
	return id;
}

size_t pprof_locs__stack(struct pprof_locs *pl, const struct stack_view *v,
			 uint64_t *ids, size_t max)
{
	size_t n = 0;
	uint32_t k;

	for (k = 0; k < v->n && n < max; k++) {
		uint64_t id = location(pl, v->pid, v->pcs[k],
				       !(k == 0 && v->leaf_exact));

		if (id)
			ids[n++] = id;
	}
	return n;
}
