// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * profstack.c - stacks to dictionary locations and to flame graph names.
 * A pc is translated once per (pid, pc, return-or-exact): the cache is
 * one exact u64map per process (pc << 1 | is_return), kernel pcs share
 * one. Mappings and locations themselves are interned by the dictionary,
 * with full keys.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sinks/profile/profstack.h"
#include "symbolize/ksyms.h"
#include "util/u64map.h"

struct profstack {
	struct profdict *d;
	struct symcache *sc;
	struct u64map by_pid;	/* pid -> struct u64map * (key -> index) */
	struct u64map kernel;	/* key -> location index */
};

struct profstack *profstack__new(struct profdict *d, struct symcache *sc)
{
	struct profstack *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return NULL;
	ps->d = d;
	ps->sc = sc;
	return ps;
}

void profstack__free(struct profstack *ps)
{
	uint64_t k, v;
	size_t it = 0;

	if (!ps)
		return;
	while (u64map__next(&ps->by_pid, &it, &k, &v)) {
		u64map__free((struct u64map *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(&ps->by_pid);
	u64map__free(&ps->kernel);
	free(ps);
}

static uint32_t mapping(struct profstack *ps, const struct sym_result *r)
{
	struct pd_mapping m = {
		.start = r->mod_start, .limit = r->mod_end,
		.has_functions = r->n_frames > 0,
		.has_filenames = r->n_frames > 0 && r->frames[0].file,
		.has_line_numbers = r->n_frames > 0 && r->frames[0].line > 0,
	};

	if (!r->module)
		return 0;
	m.filename = profdict__str(ps->d, r->module);
	m.build_id = profdict__str(ps->d, r->build_id);
	m.htlhash = profdict__str(ps->d, r->htlhash);
	return profdict__mapping(ps->d, &m);
}

static uint32_t location(struct profstack *ps, uint32_t pid, uint32_t image,
			 uint64_t pc, bool is_return)
{
	struct pd_line_in lines[SYM_MAX_FRAMES];
	uint64_t key = pc << 1 | is_return, *hit;
	bool kernel = ksyms__is_kernel(pc);
	const struct sym_result *r;
	struct u64map *m;
	uint32_t idx;
	int i;

	if (kernel) {
		m = &ps->kernel;
	} else {
		hit = u64map__get(&ps->by_pid, stacks__image_key(pid, image));
		if (hit) {
			m = (struct u64map *)(uintptr_t)*hit;
		} else {
			m = calloc(1, sizeof(*m));
			if (!m || u64map__set(&ps->by_pid,
					      stacks__image_key(pid, image),
					      (uintptr_t)m)) {
				free(m);
				ps->d->err = ps->d->err ? ps->d->err : -ENOMEM;
				return 0;
			}
		}
	}
	hit = u64map__get(m, key);
	if (hit)
		return (uint32_t)*hit;
	r = symcache__get(ps->sc, pid, image, pc, is_return);
	for (i = 0; i < r->n_frames; i++)
		lines[i] = (struct pd_line_in){
			.function = r->frames[i].function,
			.filename = r->frames[i].file,
			.line = r->frames[i].line,
		};
	idx = profdict__location(ps->d, mapping(ps, r), pc,
				 kernel ? PD_FRAME_KERNEL : PD_FRAME_NATIVE,
				 is_return, lines, (size_t)r->n_frames);
	if (idx && u64map__set(m, key, idx) && !ps->d->err)
		ps->d->err = -ENOMEM;
	return idx;
}

size_t profstack__locations(struct profstack *ps, const struct stack_view *v,
			    uint64_t *ids, size_t max)
{
	size_t n = 0;
	uint32_t k;

	for (k = 0; k < v->n && n < max; k++) {
		uint32_t id = location(ps, v->pid, v->image, v->pcs[k],
				       stack_view__is_return(v, k));

		if (id)
			ids[n++] = id;
	}
	return n;
}

size_t profstack__names(struct symcache *sc, const struct stack_view *v,
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

		r = symcache__get(sc, v->pid, v->image, v->pcs[k],
				  stack_view__is_return(v, k));
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
			int w = snprintf(buf + used, buf_len - used, "0x%llx",
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
