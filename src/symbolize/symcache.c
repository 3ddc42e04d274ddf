// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symcache.c - per-session symbol cache. Each (pid, image, pc) is
 * translated once to (file, ELF address) with the process's own module
 * map, ideally while the process is alive (symcache__prime at the first
 * sight of a stack); a pc of an image that is no longer the pid's open
 * one (it exec'd, or the pid was reused) is never looked up in the new
 * one's maps: only what was primed then answers for it;
 * symbolization itself happens once per (file, address) in symdb. A pc is looked up as pc - 1 when it
 * is a return address (every frame but an exact leaf), so the line of the
 * call is reported.
 */
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "symbolize/symcache.h"
#include "symbolize/symdb.h"
#include "util/u64map.h"

/* What we know of one pc of one process. */
struct pc_ent {
	uint32_t file;			/* symdb file, 0 if none */
	uint64_t vaddr;
	uint64_t mod_start, mod_end;
	struct sym_result *owned;	/* JIT-named or kernel result */
};

struct symcache {
	struct targets *tg;
	struct ksyms *ks;
	struct symdb *db;
	/* stacks__image_key(pid, image) -> struct u64map * (key -> pc_ent *) */
	struct u64map by_pid;
	struct u64map kernel;	/* key -> struct pc_ent * */
	struct sym_result view;	/* what symcache__get returns */
	struct pc_ent none;
};

static inline uint64_t key_of(uint64_t pc, bool is_return)
{
	return (pc << 1) | is_return;
}

struct symcache *symcache__new(struct targets *tg, struct ksyms *ks,
			       struct symdb *db)
{
	struct symcache *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	sc->db = db;
	sc->tg = tg;
	sc->ks = ks;
	return sc;
}

static void free_ents(struct u64map *m)
{
	uint64_t k, v;
	size_t it = 0;

	while (u64map__next(m, &it, &k, &v)) {
		struct pc_ent *e = (struct pc_ent *)(uintptr_t)v;

		if (e->owned) {
			sym_result__clear(e->owned);
			free(e->owned);
		}
		free(e);
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
		free_ents((struct u64map *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(&sc->by_pid);
	free_ents(&sc->kernel);
	free(sc);
}

static struct sym_result *kernel_result(struct symcache *sc, uint64_t pc,
					bool is_return)
{
	struct sym_result *r = calloc(1, sizeof(*r));
	const char *name;

	if (!r)
		return NULL;
	r->module = "[kernel.kallsyms]";
	r->build_id = "";
	r->mod_start = 0xffff800000000000ULL;
	r->mod_end = ~0ULL;
	name = ksyms__lookup(sc->ks, is_return ? pc - 1 : pc, NULL);
	if (name) {
		r->frames[0].function = strdup(name);
		if (r->frames[0].function)
			r->n_frames = 1;
	}
	return r;
}

/* The symdb file of a target's module, registered on first sight (from
 * the module's private copy, so it works after the process exited). */
static uint32_t file_of(struct symcache *sc, const struct target_module *m)
{
	struct symdb_ident id = {
		.build_id = m->build_id, .dev = m->dev, .ino = m->ino,
		.size = m->size,
	};

	uint32_t file = symdb__find(sc->db, &id);
	int fd;

	if (file)
		return file;
	fd = target__module_copy(m);
	if (fd < 0)
		return 0;
	file = symdb__file(sc->db, &id, fd, m->file_name, m->display,
			   m->debuginfo_path);
	close(fd);
	return file;
}

/* Find or make the entry of (pid, image, pc). */
static struct pc_ent *entry(struct symcache *sc, uint32_t pid, uint32_t image,
			    uint64_t pc, bool is_return)
{
	uint64_t key = key_of(pc, is_return), *hit;
	uint64_t proc = stacks__image_key(pid, image);
	struct target_loc loc;
	struct pc_ent *e;
	struct u64map *m;
	struct target *t;

	if (ksyms__is_kernel(pc)) {
		m = &sc->kernel;
	} else {
		hit = u64map__get(&sc->by_pid, proc);
		if (hit) {
			m = (struct u64map *)(uintptr_t)*hit;
		} else {
			m = calloc(1, sizeof(*m));
			if (!m)
				return &sc->none;
			if (u64map__set(&sc->by_pid, proc, (uintptr_t)m)) {
				free(m);
				return &sc->none;
			}
		}
	}
	hit = u64map__get(m, key);
	if (hit)
		return (struct pc_ent *)(uintptr_t)*hit;

	e = calloc(1, sizeof(*e));
	if (!e)
		return &sc->none;
	if (ksyms__is_kernel(pc)) {
		e->owned = kernel_result(sc, pc, is_return);
	} else {
		/* only the image open now has maps to ask */
		t = image && targets__image(sc->tg, (pid_t)pid) == image ?
			    targets__find(sc->tg, (pid_t)pid) : NULL;
		if (t && target__locate(t, pc, &loc) == 0) {
			e->file = file_of(sc, loc.mod);
			e->vaddr = loc.vaddr;
			e->mod_start = loc.mod_start;
			e->mod_end = loc.mod_end;
		} else if (t) {
			mt_debug("symbols: pid %u pc 0x%llx is in no module",
				 pid, (unsigned long long)pc);
			/* outside every module: JIT code, if named */
			e->owned = calloc(1, sizeof(*e->owned));
			if (e->owned &&
			    target__jit_symbol(t, is_return ? pc - 1 : pc,
					       e->owned) == 0 &&
			    e->owned->module)
				e->owned->build_id = "";
		}
	}
	if (u64map__set(m, key, (uintptr_t)e)) {
		if (e->owned) {
			sym_result__clear(e->owned);
			free(e->owned);
		}
		free(e);
		return &sc->none;
	}
	return e;
}

void symcache__prime(struct symcache *sc, const struct stack_view *v)
{
	uint32_t k;

	for (k = 0; k < v->n; k++) {
		bool ret = stack_view__is_return(v, k);
		struct pc_ent *e = entry(sc, v->pid, v->image, v->pcs[k], ret);

		if (e->file)
			symdb__lookup(sc->db, e->file, e->vaddr, ret);
	}
}

const struct sym_result *symcache__get(struct symcache *sc, uint32_t pid,
				       uint32_t image, uint64_t pc,
				       bool is_return)
{
	struct pc_ent *e = entry(sc, pid, image, pc, is_return);
	const struct sym_result *r;

	if (e->owned)
		return e->owned;
	memset(&sc->view, 0, sizeof(sc->view));
	sc->view.build_id = "";
	if (!e->file)
		return &sc->view;
	r = symdb__lookup(sc->db, e->file, e->vaddr, is_return);
	sc->view = *r;		/* shallow: the strings stay symdb's */
	sc->view.module = symdb__path(sc->db, e->file);
	sc->view.build_id = symdb__build_id(sc->db, e->file);
	sc->view.htlhash = symdb__htlhash(sc->db, e->file);
	sc->view.mod_start = e->mod_start;
	sc->view.mod_end = e->mod_end;
	return &sc->view;
}
