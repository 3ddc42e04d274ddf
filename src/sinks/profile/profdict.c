// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * profdict.c - interning for the profile dictionary. Every table is a
 * dense array plus a util/table.h index over it; lookups hash the key
 * (util/hash.h) and compare it in full, so two different functions or
 * mappings never share an entry. A failed allocation records -ENOMEM in
 * d->err and returns index 0, so callers can build a whole profile and
 * check once before encoding it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/profile/profdict.h"
#include "util/hash.h"
#include "util/utf8.h"

/* Room for need elements of size sz in *v (capacity *cap). 0 or -ENOMEM. */
static int grow(void **v, size_t *cap, size_t need, size_t sz)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / sz)
		return -ENOMEM;
	p = realloc(*v, ncap * sz);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = ncap;
	return 0;
}

#define RESERVE(d, f, n)                                                    \
	grow((void **)&(d)->f, &(d)->cap_##f, (d)->n_##f + (n),             \
	     sizeof(*(d)->f))

/* A bad argument fails only this call (errno EINVAL); running out of
 * memory or indices makes the whole dictionary unusable (d->err). */
static uint32_t fail(struct profdict *d, int err)
{
	if (err != -EINVAL && !d->err)
		d->err = err;
	errno = -err;
	return 0;
}

int profdict__init(struct profdict *d)
{
	memset(d, 0, sizeof(*d));
	if (RESERVE(d, strs, 1) || RESERVE(d, funcs, 1) ||
	    RESERVE(d, maps, 1) || RESERVE(d, locs, 1) ||
	    RESERVE(d, stacks, 1))
		goto nomem;
	d->strs[0] = strdup("");
	if (!d->strs[0])
		goto nomem;
	d->n_strs = 1;
	memset(d->funcs, 0, sizeof(*d->funcs));
	memset(d->maps, 0, sizeof(*d->maps));
	memset(d->locs, 0, sizeof(*d->locs));
	memset(d->stacks, 0, sizeof(*d->stacks));
	d->n_funcs = d->n_maps = d->n_locs = d->n_stacks = 1;
	return 0;
nomem:
	profdict__free(d);
	return -ENOMEM;
}

void profdict__free(struct profdict *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n_strs; i++)
		free(d->strs[i]);
	free(d->strs);
	free(d->funcs);
	free(d->maps);
	free(d->locs);
	free(d->lines);
	free(d->stacks);
	free(d->stack_locs);
	table__free(&d->str_t);
	table__free(&d->func_t);
	table__free(&d->map_t);
	table__free(&d->loc_t);
	table__free(&d->stack_t);
	memset(d, 0, sizeof(*d));
}

struct str_ctx {
	const struct profdict *d;
	const char *s;
};

static bool str_eq(const void *ctx, size_t idx)
{
	const struct str_ctx *c = ctx;

	return strcmp(c->d->strs[idx], c->s) == 0;
}

uint32_t profdict__str(struct profdict *d, const char *s)
{
	struct str_ctx c = { .d = d };
	char *copy = NULL;
	uint64_t h;
	int64_t hit;
	int err;

	if (!s || !*s)
		return 0;
	/* a function, file or thread name is the target's choice */
	c.s = utf8__sanitize(s, &copy);
	if (!c.s)
		return fail(d, -ENOMEM);
	h = hash__str(HASH_SEED, c.s);
	hit = table__find(&d->str_t, h, str_eq, &c);
	if (hit >= 0) {
		free(copy);
		return (uint32_t)hit;
	}
	err = RESERVE(d, strs, 1);
	if (!err && !copy) {
		copy = strdup(c.s);
		if (!copy)
			err = -ENOMEM;
	}
	if (!err)
		err = table__add(&d->str_t, h, d->n_strs);
	if (err) {
		free(copy);
		return fail(d, err);
	}
	d->strs[d->n_strs] = copy;
	return (uint32_t)d->n_strs++;
}

struct func_ctx {
	const struct profdict *d;
	const struct pd_function *f;
};

static bool func_eq(const void *ctx, size_t idx)
{
	const struct func_ctx *c = ctx;

	return !memcmp(&c->d->funcs[idx], c->f, sizeof(*c->f));
}

uint32_t profdict__function(struct profdict *d, const struct pd_line_in *l)
{
	struct pd_function f;
	struct func_ctx c = { .d = d, .f = &f };
	uint64_t h;
	int64_t hit;
	int err;

	memset(&f, 0, sizeof(f));	/* padding takes part in memcmp */
	/* viewers show only the name: fall back to the raw symbol */
	f.name = profdict__str(d, l->function ? l->function : l->system_name);
	f.system_name = profdict__str(d, l->system_name);
	f.filename = profdict__str(d, l->filename);
	f.start_line = l->start_line;
	h = hash__bytes(HASH_SEED, &f, sizeof(f));
	hit = table__find(&d->func_t, h, func_eq, &c);
	if (hit >= 0)
		return (uint32_t)hit;
	err = RESERVE(d, funcs, 1);
	if (!err)
		err = table__add(&d->func_t, h, d->n_funcs);
	if (err)
		return fail(d, err);
	d->funcs[d->n_funcs] = f;
	return (uint32_t)d->n_funcs++;
}

struct map_ctx {
	const struct profdict *d;
	const struct pd_mapping *m;
};

static bool map_eq(const void *ctx, size_t idx)
{
	const struct map_ctx *c = ctx;
	const struct pd_mapping *a = &c->d->maps[idx], *b = c->m;

	return a->start == b->start && a->limit == b->limit &&
	       a->offset == b->offset && a->filename == b->filename &&
	       a->build_id == b->build_id && a->htlhash == b->htlhash;
}

uint32_t profdict__mapping(struct profdict *d, const struct pd_mapping *m)
{
	struct map_ctx c = { .d = d, .m = m };
	uint64_t h;
	int64_t hit;
	int err;

	if (m->limit < m->start)
		return fail(d, -EINVAL);
	h = hash__u64(hash__u64(hash__u64(HASH_SEED, m->start), m->limit),
		      m->offset);
	h = hash__u64(hash__u64(h, m->filename),
		      (uint64_t)m->build_id << 32 | m->htlhash);
	hit = table__find(&d->map_t, h, map_eq, &c);
	if (hit >= 0)
		return (uint32_t)hit;
	err = RESERVE(d, maps, 1);
	if (!err)
		err = table__add(&d->map_t, h, d->n_maps);
	if (err)
		return fail(d, err);
	d->maps[d->n_maps] = *m;
	return (uint32_t)d->n_maps++;
}

struct loc_ctx {
	const struct profdict *d;
	const struct pd_location *l;
	const struct pd_line *lines;	/* compared only at address 0 */
};

static bool loc_eq(const void *ctx, size_t idx)
{
	const struct loc_ctx *c = ctx;
	const struct pd_location *a = &c->d->locs[idx], *b = c->l;

	if (a->mapping != b->mapping || a->address != b->address ||
	    a->frame != b->frame || a->is_return != b->is_return)
		return false;
	if (b->address)
		return true;
	return a->n_lines == b->n_lines &&
	       (!b->n_lines || !memcmp(&c->d->lines[a->line_off], c->lines,
				       b->n_lines * sizeof(*c->lines)));
}

uint32_t profdict__location(struct profdict *d, uint32_t mapping,
			    uint64_t address, enum pd_frame frame,
			    bool is_return, const struct pd_line_in *lines,
			    size_t n_lines)
{
	struct pd_location l = { .mapping = mapping, .address = address,
				 .frame = frame, .is_return = is_return };
	struct loc_ctx c = { .d = d, .l = &l };
	struct pd_line *staged;
	uint64_t h;
	int64_t hit;
	size_t i;
	int err;

	if (mapping >= d->n_maps || n_lines > UINT32_MAX ||
	    (n_lines && !lines))
		return fail(d, -EINVAL);
	h = hash__u64(hash__u64(hash__u64(HASH_SEED, mapping), address),
		      (uint64_t)frame << 1 | is_return);
	if (address) {
		hit = table__find(&d->loc_t, h, loc_eq, &c);
		if (hit >= 0)
			return (uint32_t)hit;
	}
	/* lines are staged past the end of the pool and kept only if the
	 * location is new */
	if (RESERVE(d, lines, n_lines))
		return fail(d, -ENOMEM);
	staged = d->lines + d->n_lines;
	for (i = 0; i < n_lines; i++) {
		if (!lines[i].function && !lines[i].system_name &&
		    !lines[i].filename)
			continue;
		memset(&staged[l.n_lines], 0, sizeof(*staged)); /* padding */
		staged[l.n_lines].function = profdict__function(d, &lines[i]);
		staged[l.n_lines].line = lines[i].line;
		l.n_lines++;
	}
	if (d->err)
		return 0;
	if (!address) {
		c.lines = staged;
		h = hash__bytes(h, staged, l.n_lines * sizeof(*staged));
		hit = table__find(&d->loc_t, h, loc_eq, &c);
		if (hit >= 0)
			return (uint32_t)hit;
	}
	err = RESERVE(d, locs, 1);
	if (!err)
		err = table__add(&d->loc_t, h, d->n_locs);
	if (err)
		return fail(d, err);
	l.line_off = d->n_lines;
	d->n_lines += l.n_lines;
	d->locs[d->n_locs] = l;
	return (uint32_t)d->n_locs++;
}

struct stack_ctx {
	const struct profdict *d;
	const uint64_t *locs;
	size_t n;
};

static bool stack_eq(const void *ctx, size_t idx)
{
	const struct stack_ctx *c = ctx;
	const struct pd_stack *s = &c->d->stacks[idx];

	return s->n_locs == c->n &&
	       (!c->n || !memcmp(&c->d->stack_locs[s->loc_off], c->locs,
				 c->n * sizeof(*c->locs)));
}

uint32_t profdict__stack(struct profdict *d, const uint64_t *locs, size_t n)
{
	struct stack_ctx c = { .d = d, .locs = locs, .n = n };
	uint64_t h;
	int64_t hit;
	size_t i;
	int err;

	if (n > UINT32_MAX || (n && !locs))
		return fail(d, -EINVAL);
	for (i = 0; i < n; i++)
		if (!locs[i] || locs[i] >= d->n_locs)
			return fail(d, -EINVAL);
	h = hash__bytes(HASH_SEED, locs, n * sizeof(*locs));
	hit = table__find(&d->stack_t, h, stack_eq, &c);
	if (hit >= 0)
		return (uint32_t)hit;
	err = RESERVE(d, stacks, 1);
	if (!err)
		err = RESERVE(d, stack_locs, n);
	if (!err)
		err = table__add(&d->stack_t, h, d->n_stacks);
	if (err)
		return fail(d, err);
	if (n)
		memcpy(d->stack_locs + d->n_stack_locs, locs, n * sizeof(*locs));
	d->stacks[d->n_stacks].loc_off = d->n_stack_locs;
	d->stacks[d->n_stacks].n_locs = (uint32_t)n;
	d->n_stack_locs += n;
	return (uint32_t)d->n_stacks++;
}
