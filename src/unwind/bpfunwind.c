// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bpfunwind.c - unwind tables into the BPF maps, stack keys out of them.
 *
 * Files are keyed by the identity of the original file (st_dev, st_ino,
 * size), as symdb keys them: every process mapping libc shares one set of
 * rows. Rows are appended to unw_rows and never moved (a process may be
 * walking them); what does not fit in unw_rows is counted and that file
 * has no table, so stacks through it take the raw-window path. A process's
 * entry in unw_procs carries its start time: the BPF side ignores it for a
 * reused pid. Stacks read from ustacks are remembered per process, so its
 * exit deletes them from the kernel too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <elfutils/libdwfl.h>

#include "process/scan.h"
#include "unwind/bpfunwind.h"
#include "unwind/cfitable.h"
#include "util/clock.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/table.h"
#include "util/u64map.h"

#define SYNC_INTERVAL_NS 1000000000ULL
#define NO_TABLE UINT32_MAX

struct ufile {
	uint64_t dev, ino, size;
	uint32_t id;		/* index in unw_files, or NO_TABLE */
};

struct uproc {
	uint64_t start_ticks;
	uint64_t synced_ns;
	uint64_t *hashes;	/* stacks of this process read from ustacks */
	size_t n_hashes, cap_hashes;
};

struct bpfunwind {
	struct bpfunwind_maps m;
	struct ufile *files;
	size_t n_files, cap_files;
	struct table by_file;
	uint32_t rows_used;
	uint32_t gen;		/* of the last unw_procs update */
	struct u64map procs;	/* pid -> struct uproc * */
	struct bpfunwind_stats st;
};

struct bpfunwind *bpfunwind__new(const struct bpfunwind_maps *m)
{
	struct bpfunwind *bu = calloc(1, sizeof(*bu));

	if (!bu)
		return NULL;
	bu->m = *m;
	return bu;
}

static void uproc_free(struct uproc *p)
{
	if (!p)
		return;
	free(p->hashes);
	free(p);
}

void bpfunwind__free(struct bpfunwind *bu)
{
	uint64_t k, v;
	size_t it = 0;

	if (!bu)
		return;
	while (u64map__next(&bu->procs, &it, &k, &v))
		uproc_free((struct uproc *)(uintptr_t)v);
	u64map__free(&bu->procs);
	table__free(&bu->by_file);
	free(bu->files);
	free(bu);
}

struct file_key {
	const struct bpfunwind *bu;
	const struct target_module *tm;
};

static bool file_eq(const void *ctx, size_t idx)
{
	const struct file_key *k = ctx;
	const struct ufile *f = &k->bu->files[idx];

	return f->dev == k->tm->dev && f->ino == k->tm->ino &&
	       f->size == k->tm->size;
}

/* Load elf's rows into unw_rows[first...]: one batch update. */
static int load_rows(struct bpfunwind *bu, const struct cfitable *t,
		     uint32_t first)
{
	uint32_t *keys, count = (uint32_t)t->n, i;
	int err = 0;

	keys = malloc(t->n * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		keys[i] = first + i;
	if (bpf_map_update_batch(bu->m.rows, keys, t->rows, &count, NULL))
		err = -errno;
	free(keys);
	return err;
}

/* The unw_files index of tm's file (built and loaded on first sight), or
 * NO_TABLE. */
static uint32_t file_id(struct bpfunwind *bu, const struct target_module *tm,
			Elf *elf)
{
	struct file_key k = { .bu = bu, .tm = tm };
	uint64_t h = hash__u64(hash__u64(hash__u64(0, tm->dev), tm->ino),
			       tm->size);
	struct mt_unw_file fv;
	struct cfitable t;
	struct ufile *f;
	int64_t idx;
	uint32_t id;
	int err;

	idx = table__find(&bu->by_file, h, file_eq, &k);
	if (idx >= 0)
		return bu->files[idx].id;
	if (bu->n_files == bu->cap_files) {
		size_t cap = bu->cap_files ? bu->cap_files * 2 : 64;
		struct ufile *nf = realloc(bu->files, cap * sizeof(*nf));

		if (!nf)
			return NO_TABLE;
		bu->files = nf;
		bu->cap_files = cap;
	}
	f = &bu->files[bu->n_files];
	f->dev = tm->dev;
	f->ino = tm->ino;
	f->size = tm->size;
	f->id = NO_TABLE;
	if (table__add(&bu->by_file, h, bu->n_files))
		return NO_TABLE;
	bu->n_files++;

	id = (uint32_t)bu->st.files;
	err = id < MT_UNW_MAX_FILES && elf ?
	      cfitable__build(elf, bu->m.max_rows - bu->rows_used, &t) : -E2BIG;
	if (!err) {
		err = load_rows(bu, &t, bu->rows_used);
		fv.first = bu->rows_used;
		fv.count = (uint32_t)t.n;
		if (!err && bpf_map_update_elem(bu->m.files, &id, &fv, BPF_ANY))
			err = -errno;
		if (!err) {
			bu->rows_used += (uint32_t)t.n;
			bu->st.rows += t.n;
			bu->st.files++;
			f->id = id;
		}
		cfitable__free(&t);
	}
	if (err) {
		bu->st.files_failed++;
		mt_debug("no BPF unwind table for %s: %s", tm->display,
			 strerror(-err));
	}
	return f->id;
}

struct sync_ctx {
	struct bpfunwind *bu;
	struct mt_unw_proc *p;
};

static int sync_module(Dwfl_Module *mod, void **ud, const char *name,
		       Dwarf_Addr start, void *arg)
{
	struct sync_ctx *c = arg;
	const struct target_module *tm = ud ? *ud : NULL;
	struct mt_unw_map *m;
	Dwarf_Addr lo, hi, bias;
	Elf *elf;
	uint32_t id;

	(void)name;
	(void)start;
	if (!tm)
		return DWARF_CB_OK;
	elf = dwfl_module_getelf(mod, &bias);
	if (!elf)
		return DWARF_CB_OK;
	id = file_id(c->bu, tm, elf);
	if (id == NO_TABLE)
		return DWARF_CB_OK;
	if (c->p->n >= MT_UNW_MAX_MAPS) {
		c->bu->st.maps_dropped++;
		return DWARF_CB_OK;
	}
	dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
	m = &c->p->maps[c->p->n++];
	m->start = lo;
	m->end = hi;
	m->bias = bias;
	m->file = id;
	m->pad = 0;
	return DWARF_CB_OK;
}

static int map_cmp(const void *a, const void *b)
{
	const struct mt_unw_map *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

int bpfunwind__sync(struct bpfunwind *bu, struct target *t)
{
	uint32_t pid = (uint32_t)target__pid(t);
	uint64_t now = clock__mono_ns(), *v;
	struct mt_unw_proc *p = NULL;
	struct proc_info info;
	struct uproc *up;
	struct sync_ctx c;
	int err;

	v = u64map__get(&bu->procs, pid);
	up = v ? (struct uproc *)(uintptr_t)*v : NULL;
	if (up && now - up->synced_ns < SYNC_INTERVAL_NS)
		return 0;
	if (proc_scan__read((pid_t)pid, &info))
		return -ESRCH;
	if (up && up->start_ticks != info.start_ticks)
		return -ESRCH;	/* reused: the reap forgets the old one */
	if (!up) {
		up = calloc(1, sizeof(*up));
		if (!up)
			return -ENOMEM;
		up->start_ticks = info.start_ticks;
		if (u64map__set(&bu->procs, pid, (uintptr_t)up)) {
			free(up);
			return -ENOMEM;
		}
		bu->st.procs++;
	}
	up->synced_ns = now;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->start_ticks = info.start_ticks;
	p->gen = ++bu->gen ? bu->gen : ++bu->gen;
	c.bu = bu;
	c.p = p;
	dwfl_getmodules(target__dwfl(t), sync_module, &c, 0);
	qsort(p->maps, p->n, sizeof(p->maps[0]), map_cmp);
	err = 0;
	if (p->n && bpf_map_update_elem(bu->m.procs, &pid, p, BPF_ANY))
		err = -errno;
	free(p);
	return err;
}

/* Remember hash as one of pid's stacks in the kernel. */
static void note_stack(struct bpfunwind *bu, uint32_t pid, uint64_t hash)
{
	uint64_t *v = u64map__get(&bu->procs, pid);
	struct uproc *up = v ? (struct uproc *)(uintptr_t)*v : NULL;

	if (!up)
		return;
	if (up->n_hashes == up->cap_hashes) {
		size_t cap = up->cap_hashes ? up->cap_hashes * 2 : 64;
		uint64_t *nh = realloc(up->hashes, cap * sizeof(*nh));

		if (!nh)
			return;
		up->hashes = nh;
		up->cap_hashes = cap;
	}
	up->hashes[up->n_hashes++] = hash;
}

int bpfunwind__stack(struct bpfunwind *bu, const struct mt_stack_key *key,
		     uint64_t *pcs, size_t max)
{
	struct mt_ustack s;
	size_t n;

	if (bpf_map_lookup_elem(bu->m.stacks, key, &s) || !s.nr ||
	    s.nr > MT_UNW_MAX_FRAMES) {
		bu->st.stack_misses++;
		return -ENOENT;
	}
	n = s.nr < max ? s.nr : max;
	memcpy(pcs, s.pcs, n * sizeof(pcs[0]));
	bu->st.stacks++;
	note_stack(bu, key->tgid, key->hash);
	return (int)n;
}

static void forget(struct bpfunwind *bu, uint32_t pid, struct uproc *up)
{
	struct mt_stack_key k = { .tgid = pid };
	size_t i;

	bpf_map_delete_elem(bu->m.procs, &pid);
	for (i = 0; i < up->n_hashes; i++) {
		k.hash = up->hashes[i];
		bpf_map_delete_elem(bu->m.stacks, &k);
	}
	uproc_free(up);
}

size_t bpfunwind__reap(struct bpfunwind *bu,
		       void (*gone)(void *ctx, uint32_t pid), void *ctx)
{
	uint64_t k, v, *dead = NULL;
	size_t it = 0, n = 0, cap = 0, i;
	struct proc_info info;

	while (u64map__next(&bu->procs, &it, &k, &v)) {
		struct uproc *up = (struct uproc *)(uintptr_t)v;

		if (!proc_scan__read((pid_t)k, &info) &&
		    info.start_ticks == up->start_ticks)
			continue;
		if (n == cap) {
			uint64_t *nd;

			cap = cap ? cap * 2 : 16;
			nd = realloc(dead, cap * sizeof(*nd));
			if (!nd)
				break;
			dead = nd;
		}
		dead[n++] = k;
	}
	for (i = 0; i < n; i++) {
		if (u64map__del(&bu->procs, dead[i], &v))
			forget(bu, (uint32_t)dead[i],
			       (struct uproc *)(uintptr_t)v);
		if (gone)
			gone(ctx, (uint32_t)dead[i]);
	}
	free(dead);
	return n;
}

void bpfunwind__forget(struct bpfunwind *bu, uint32_t pid)
{
	uint64_t v;

	if (u64map__del(&bu->procs, pid, &v))
		forget(bu, pid, (struct uproc *)(uintptr_t)v);
	else
		bpf_map_delete_elem(bu->m.procs, &pid);
}

void bpfunwind__stats(const struct bpfunwind *bu, struct bpfunwind_stats *s)
{
	*s = bu->st;
}
