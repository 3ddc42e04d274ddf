// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memmetrics.c - the memory metrics model: per-component allocation counters
 * and size histograms fed by every sampled allocation, per-stack live-bytes
 * series fed once per export window and fitted by least squares to find leak
 * suspects, and the process gauges (read by process/procstat.c). A
 * snapshot (memmetrics_snapshot.c) turns it all into plain points for the
 * OTLP encoders. Everything is bounded: component names
 * (MM_MAX_TRACKED_COMPONENTS), operations per component, stacks
 * (MM_MAX_STACKS, 2x transiently inside a window) and series (MM_SERIES_LEN).
 *
 * Component folding keeps every counter monotone: a component is reported
 * under its own name once "promoted" (at end_window, the largest lifetime
 * allocated bytes first, into at most MM_MAX_COMPONENTS slots; a newcomer
 * replaces the smallest promoted one when it has allocated twice as much).
 * "other" = everything folded so far + all unpromoted components. When a
 * component whose bytes "other" already reported is promoted, those bytes
 * stay in "other" and the component's own series starts at that window
 * (start_s = promotion time); a demoted component's totals move into
 * "other" and its series stops. "other" is also clamped to never go below
 * what it last reported, against floating-point reassociation.
 *
 * Leak metrics: memory.leak.allocation_count is the high-water mark of the
 * suspects' live blocks per (component, severity), so the counter never
 * drops (the current figure is the count of memory.leak.size_bytes and the
 * suspects list); memory.leak.size_bytes describes the suspects' live blocks
 * at the window's end and can shrink. A leak that changes severity starts a
 * new series. Leak components get their own label for the first
 * MM_MAX_COMPONENTS distinct names, "other" after that.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/memmetrics.h"
#include "model/memmetrics_impl.h"
#include "util/hash.h"
#include "util/table.h"
#include "util/u64map.h"

const double memmetrics_hist_bounds[MM_HIST_NBOUNDS] = {
	16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
	16777216, 67108864,
};

#define KIB		1024ULL

/* glibc x86-64: SIZE_SZ 8, MALLOC_ALIGNMENT 16, MINSIZE 32, default
 * M_MMAP_THRESHOLD 128 KiB (it can grow dynamically; not modelled). */
#define GLIBC_SIZE_SZ		8ULL
#define GLIBC_ALIGN		16ULL
#define GLIBC_MINSIZE		32ULL
#define GLIBC_MMAP_THRESHOLD	(128 * KIB)
#define PAGE			4096ULL

/* --- pure helpers ------------------------------------------------------- */

const char *const mm_cat_names[NCATS] = {
	"tiny", "small", "medium", "large", "huge",
};

static int size_category_idx(uint64_t size)
{
	if (size < KIB)
		return 0;
	if (size < 64 * KIB)
		return 1;
	if (size < KIB * KIB)
		return 2;
	if (size < 16 * KIB * KIB)
		return 3;
	return 4;
}

const char *memmetrics__size_category(uint64_t size)
{
	return mm_cat_names[size_category_idx(size)];
}

double memmetrics__size_score(uint64_t size)
{
	double l, s;

	if (size == 0)
		return 0.25;
	if (size >= 4 * KIB && size <= 64 * KIB)
		return 1.0;
	l = log2((double)size);
	if (size < 4 * KIB)
		return 1.0 - 0.75 * (12.0 - l) / 12.0;
	s = 1.0 - 0.75 * (l - 16.0) / 8.0;
	return s < 0.25 ? 0.25 : s;
}

double memmetrics__alignment_waste(uint64_t size)
{
	uint64_t nb, chunk;

	/* Beyond any real request; keeps the rounding below from wrapping. */
	if (size > UINT64_MAX / 2)
		return 0.0;
	nb = (size + GLIBC_SIZE_SZ + GLIBC_ALIGN - 1) & ~(GLIBC_ALIGN - 1);
	if (nb < GLIBC_MINSIZE)
		nb = GLIBC_MINSIZE;
	if (nb >= GLIBC_MMAP_THRESHOLD)
		chunk = (nb + GLIBC_SIZE_SZ + PAGE - 1) & ~(PAGE - 1);
	else
		chunk = nb;
	return (double)(chunk - size) / (double)chunk;
}

static double alloc_efficiency(uint64_t size)
{
	return memmetrics__size_score(size) *
	       (1.0 - memmetrics__alignment_waste(size));
}

double memmetrics__efficiency(const uint64_t *sizes, const double *counts,
			      size_t n)
{
	double num = 0, den = 0;
	size_t i;

	if (!sizes)
		return 1.0;
	for (i = 0; i < n; i++) {
		double w = counts ? counts[i] : 1.0;

		if (!(w > 0) || !isfinite(w))
			continue;
		num += w * alloc_efficiency(sizes[i]);
		den += w;
	}
	return den > 0 ? num / den : 1.0;
}

double memmetrics__slope(const double *t, const double *y, size_t n)
{
	double tm = 0, ym = 0, sxy = 0, sxx = 0;
	size_t i;

	if (!t || !y || n < 2)
		return 0.0;
	for (i = 0; i < n; i++) {
		tm += t[i];
		ym += y[i];
	}
	tm /= n;
	ym /= n;
	/* Centred sums: t may be Unix seconds, far from 0. */
	for (i = 0; i < n; i++) {
		sxy += (t[i] - tm) * (y[i] - ym);
		sxx += (t[i] - tm) * (t[i] - tm);
	}
	return sxx > 0 ? sxy / sxx : 0.0;
}

enum mm_severity memmetrics__severity(double live_bytes,
				      double growth_mb_per_h)
{
	if (live_bytes > 100 * MM_MB || growth_mb_per_h > 50)
		return MM_SEV_CRITICAL;
	if (live_bytes > 50 * MM_MB || growth_mb_per_h > 20)
		return MM_SEV_HIGH;
	if (live_bytes > 10 * MM_MB || growth_mb_per_h > 5)
		return MM_SEV_MEDIUM;
	return MM_SEV_LOW;
}

const char *memmetrics__severity_name(enum mm_severity sev)
{
	switch (sev) {
	case MM_SEV_LOW:
		return "low";
	case MM_SEV_MEDIUM:
		return "medium";
	case MM_SEV_HIGH:
		return "high";
	case MM_SEV_CRITICAL:
		return "critical";
	default:
		return "unknown";
	}
}

/* --- accumulators ------------------------------------------------------- */

static size_t bucket_of(uint64_t size)
{
	size_t i;

	for (i = 0; i < MM_HIST_NBOUNDS; i++) {
		if ((double)size <= memmetrics_hist_bounds[i])
			return i;
	}
	return MM_HIST_NBOUNDS;
}

static void hist_add(struct hist_acc *h, uint64_t size, double w)
{
	double s = (double)size;

	if (!(w > 0))
		return;
	if (!(h->count > 0) || s < h->min)
		h->min = s;
	if (!(h->count > 0) || s > h->max)
		h->max = s;
	h->buckets[bucket_of(size)] += w;
	h->count += w;
	h->sum += s * w;
}

static void hist_merge(struct hist_acc *dst, const struct hist_acc *src)
{
	size_t i;

	if (!(src->count > 0))
		return;
	if (!(dst->count > 0) || src->min < dst->min)
		dst->min = src->min;
	if (!(dst->count > 0) || src->max > dst->max)
		dst->max = src->max;
	for (i = 0; i < NBUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
}

/* Raise h's cumulative figures to at least those of floor. */
static void hist_clamp(struct hist_acc *h, const struct hist_acc *floor)
{
	size_t i;

	for (i = 0; i < NBUCKETS; i++)
		h->buckets[i] = fmax(h->buckets[i], floor->buckets[i]);
	h->count = fmax(h->count, floor->count);
	h->sum = fmax(h->sum, floor->sum);
}

void hist_acc__export(struct mm_hist *out, const struct hist_acc *h)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < NBUCKETS; i++) {
		/* llround is monotone, so rounded cumulative buckets still
		 * never decrease. */
		out->bucket_counts[i] = h->buckets[i] > 0 ?
					(uint64_t)llround(h->buckets[i]) : 0;
		out->count += out->bucket_counts[i];
	}
	out->sum = h->sum;
	if (h->count > 0) {
		out->min = h->min;
		out->max = h->max;
	}
}

void acc__clear(struct acc *a)
{
	size_t i;

	for (i = 0; i < a->n_ops; i++)
		free(a->ops[i].name);
	free(a->ops);
	memset(a, 0, sizeof(*a));
}

static struct op_acc *acc_find_op(const struct acc *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n_ops; i++) {
		if (!strcmp(a->ops[i].name, name))
			return &a->ops[i];
	}
	return NULL;
}

/* The op entry for name, created if needed; past MM_MAX_OPS names the
 * entry "other". NULL on ENOMEM. */
static struct op_acc *acc_op(struct acc *a, const char *name)
{
	struct op_acc *op, *nv;

	op = acc_find_op(a, name);
	if (op)
		return op;
	if (a->n_ops >= MM_MAX_OPS) {
		name = MM_OTHER;
		op = acc_find_op(a, name);
		if (op)
			return op;
	}
	nv = reallocarray(a->ops, a->n_ops + 1, sizeof(*nv));
	if (!nv)
		return NULL;
	a->ops = nv;
	op = &a->ops[a->n_ops];
	memset(op, 0, sizeof(*op));
	op->name = strdup(name);
	if (!op->name)
		return NULL;
	a->n_ops++;
	return op;
}

/* dst += src. All-or-nothing: ops are created before anything is added. */
int acc__merge(struct acc *dst, const struct acc *src)
{
	size_t i;

	for (i = 0; i < src->n_ops; i++) {
		if (!acc_op(dst, src->ops[i].name))
			return -ENOMEM;
	}
	for (i = 0; i < src->n_ops; i++) {
		struct op_acc *d = acc_op(dst, src->ops[i].name);

		d->count += src->ops[i].count;
		hist_merge(&d->hist, &src->ops[i].hist);
	}
	dst->bytes += src->bytes;
	dst->eff_sum += src->eff_sum;
	dst->eff_w += src->eff_w;
	return 0;
}

/* Raise a's cumulative figures to at least floor's. */
void acc__clamp(struct acc *a, const struct acc *floor)
{
	size_t i;

	a->bytes = fmax(a->bytes, floor->bytes);
	for (i = 0; i < a->n_ops; i++) {
		const struct op_acc *f = acc_find_op(floor, a->ops[i].name);

		if (!f)
			continue;
		a->ops[i].count = fmax(a->ops[i].count, f->count);
		hist_clamp(&a->ops[i].hist, &f->hist);
	}
}

/* --- components --------------------------------------------------------- */

struct comp_key {
	const struct memmetrics *m;
	const char *name;
};

static bool comp_eq(const void *ctx, size_t idx)
{
	const struct comp_key *k = ctx;

	return !strcmp(k->m->comps[idx].name, k->name);
}

/* The entry for name, created if there is room; NULL when the table is full
 * (*err 0) or on ENOMEM (*err -ENOMEM). */
static struct comp *comp_get(struct memmetrics *m, const char *name, int *err)
{
	struct comp_key key = { m, name };
	uint64_t h = hash__str(HASH_SEED, name);
	int64_t found = table__find(&m->comp_index, h, comp_eq, &key);
	struct comp *c;

	*err = 0;
	if (found >= 0)
		return &m->comps[found];
	if (m->n_comps >= MM_MAX_TRACKED_COMPONENTS)
		return NULL;
	if (m->n_comps == m->cap_comps) {
		size_t ncap = m->cap_comps ? m->cap_comps * 2 : 64;
		struct comp *nv = reallocarray(m->comps, ncap, sizeof(*nv));

		if (!nv) {
			*err = -ENOMEM;
			return NULL;
		}
		m->comps = nv;
		m->cap_comps = ncap;
	}
	c = &m->comps[m->n_comps];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	if (!c->name) {
		*err = -ENOMEM;
		return NULL;
	}
	c->start_s = m->start_s;
	*err = table__add(&m->comp_index, h, m->n_comps);
	if (*err) {
		free(c->name);
		return NULL;
	}
	m->n_comps++;
	return c;
}

static int comp_promote(struct memmetrics *m, struct comp *c, double t)
{
	int err;

	if (c->in_other) {
		/* "other" already reported (some of) these bytes: they stay
		 * there and the component's series starts now. */
		err = acc__merge(&m->other_base, &c->acc);
		if (err)
			return err;
		acc__clear(&c->acc);
		c->start_s = t;
	}
	c->promoted = true;
	m->n_promoted++;
	return 0;
}

static int comp_demote(struct memmetrics *m, struct comp *c)
{
	int err;

	err = acc__merge(&m->other_base, &c->acc);
	if (err)
		return err;
	acc__clear(&c->acc);
	c->promoted = false;
	c->in_other = true;
	m->n_promoted--;
	return 0;
}

/* Fill free slots with the largest unpromoted components, then let one that
 * allocated PROMOTE_FACTOR times more replace the smallest promoted one. */
static int comps_rebalance(struct memmetrics *m, double t)
{
	size_t i, round;
	int err;

	for (round = 0; round <= m->n_comps; round++) {
		struct comp *best = NULL, *worst = NULL;

		for (i = 0; i < m->n_comps; i++) {
			struct comp *c = &m->comps[i];

			if (!c->promoted && c->rank > 0 &&
			    (!best || c->rank > best->rank))
				best = c;
			if (c->promoted && (!worst || c->rank < worst->rank))
				worst = c;
		}
		if (!best)
			return 0;
		if (m->n_promoted < MM_MAX_COMPONENTS) {
			err = comp_promote(m, best, t);
			if (err)
				return err;
			continue;
		}
		if (!worst || !(best->rank > PROMOTE_FACTOR * worst->rank))
			return 0;
		err = comp_demote(m, worst);
		if (err)
			return err;
		err = comp_promote(m, best, t);
		if (err)
			return err;
	}
	return 0;
}

int memmetrics__on_alloc(struct memmetrics *m, const char *component,
			 const char *operation, uint64_t size, double weight)
{
	struct op_acc *op;
	struct comp *c;
	struct acc *a;
	int err;

	if (!m || !(weight >= 0) || !isfinite(weight))
		return -EINVAL;
	if (weight == 0)
		return 0;
	if (!component || !*component)
		component = UNKNOWN;
	if (!operation || !*operation)
		operation = UNKNOWN;

	c = comp_get(m, component, &err);
	if (err)
		return err;
	if (c) {
		a = &c->acc;
	} else {
		a = &m->other_base;
		m->components_folded++;
	}
	op = acc_op(a, operation);
	if (!op)
		return -ENOMEM;

	if (c)
		c->rank += (double)size * weight;
	a->bytes += (double)size * weight;
	a->eff_sum += weight * alloc_efficiency(size);
	a->eff_w += weight;
	op->count += weight;
	hist_add(&op->hist, size, weight);
	m->dist[size_category_idx(size)] += weight;
	return 0;
}

/* --- stacks ------------------------------------------------------------- */

/* Point the index at the trackers' current positions (after compaction
 * or sorting; the ones dropped were deleted from it). Never allocates. */
static void stacks_reindex(struct memmetrics *m)
{
	size_t i;

	for (i = 0; i < m->n_trk; i++) {
		uint64_t *v = u64map__get(&m->trk_index, m->trk[i].stack_id);

		if (v)
			*v = i;
	}
}

/* Forget tracker i (its slot is reused or cut off by the caller). */
static void tracker_drop(struct memmetrics *m, size_t i)
{
	u64map__del(&m->trk_index, m->trk[i].stack_id, NULL);
	free(m->trk[i].component);
}

static double tracker_size(const struct tracker *tr)
{
	return tr->seen ? tr->p_bytes : tr->last_bytes;
}

/* Keep order: suspects, then larger live bytes, then lower stack id. */
static int tracker_cmp(const void *a, const void *b)
{
	const struct tracker *x = a, *y = b;
	double sx = tracker_size(x), sy = tracker_size(y);

	if (x->suspect != y->suspect)
		return x->suspect ? -1 : 1;
	if (sx != sy)
		return sx > sy ? -1 : 1;
	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	return 0;
}

/* Drop all but the keep most important trackers. */
static void stacks_trim(struct memmetrics *m, size_t keep)
{
	size_t i;

	if (m->n_trk <= keep)
		return;
	qsort(m->trk, m->n_trk, sizeof(*m->trk), tracker_cmp);
	for (i = keep; i < m->n_trk; i++)
		tracker_drop(m, i);
	m->stacks_dropped += m->n_trk - keep;
	m->n_trk = keep;
	stacks_reindex(m);
}

static struct tracker *tracker_get(struct memmetrics *m, uint32_t id,
				   int *err)
{
	uint64_t *idx = u64map__get(&m->trk_index, id);
	struct tracker *tr;

	*err = 0;
	if (idx)
		return &m->trk[*idx];
	if (m->n_trk >= 2 * MM_MAX_STACKS)
		stacks_trim(m, MM_MAX_STACKS);
	if (m->n_trk == m->cap_trk) {
		size_t ncap = m->cap_trk ? m->cap_trk * 2 : 64;
		struct tracker *nv;

		nv = reallocarray(m->trk, ncap, sizeof(*nv));
		if (!nv) {
			*err = -ENOMEM;
			return NULL;
		}
		m->trk = nv;
		m->cap_trk = ncap;
	}
	*err = u64map__set(&m->trk_index, id, m->n_trk);
	if (*err)
		return NULL;
	tr = &m->trk[m->n_trk++];
	memset(tr, 0, sizeof(*tr));
	tr->stack_id = id;
	return tr;
}

int memmetrics__window_stack(struct memmetrics *m, uint32_t stack_id,
			     const char *component, double live_bytes,
			     double live_objects, double oldest_age_s,
			     const uint64_t *block_sizes,
			     const double *block_weights, size_t n_blocks)
{
	struct tracker *tr;
	size_t i;
	int err;

	if (!m || !isfinite(live_bytes) || live_bytes < 0 ||
	    !isfinite(live_objects) || live_objects < 0 ||
	    !isfinite(oldest_age_s) || (n_blocks && !block_sizes))
		return -EINVAL;
	if (!component || !*component)
		component = UNKNOWN;

	tr = tracker_get(m, stack_id, &err);
	if (!tr)
		return err;
	if (!tr->component || strcmp(tr->component, component)) {
		char *dup = strdup(component);

		if (!dup)
			return -ENOMEM;
		free(tr->component);
		tr->component = dup;
	}
	if (!tr->seen || oldest_age_s > tr->p_age)
		tr->p_age = oldest_age_s;
	tr->seen = true;
	tr->p_bytes += live_bytes;
	tr->p_objects += live_objects;
	for (i = 0; i < n_blocks; i++)
		hist_add(&tr->p_hist, block_sizes[i],
			 block_weights ? block_weights[i] : 1.0);
	return 0;
}

int memmetrics__window_unverified(struct memmetrics *m, uint32_t stack_id,
				  double bytes)
{
	uint64_t *v, bits;
	double sum = 0;

	if (!m || !isfinite(bytes) || bytes < 0)
		return -EINVAL;
	v = u64map__get(&m->unverified, stack_id);
	if (v)
		memcpy(&sum, v, sizeof(sum));
	sum += bytes;
	memcpy(&bits, &sum, sizeof(bits));
	return u64map__set(&m->unverified, stack_id, bits);
}

void memmetrics__restart_stack(struct memmetrics *m, uint32_t stack_id)
{
	uint64_t *idx = m ? u64map__get(&m->trk_index, stack_id) : NULL;

	if (!idx)
		return;
	m->trk[*idx].first = m->trk[*idx].n = 0;
}

void memmetrics__set_partial(struct memmetrics *m, double on_fraction,
			     double unverified_bytes)
{
	if (!m)
		return;
	m->partial = true;
	m->on_fraction = on_fraction;
	m->unverified_bytes = unverified_bytes;
}

static void series_push(struct tracker *tr, double t, double y)
{
	unsigned int i;

	if (tr->n < MM_SERIES_LEN) {
		i = (tr->first + tr->n) % MM_SERIES_LEN;
		tr->n++;
	} else {
		i = tr->first;
		tr->first = (tr->first + 1) % MM_SERIES_LEN;
	}
	tr->t[i] = t;
	tr->y[i] = y;
}

/* The suspect rule (see memmetrics.h) on tr's series extended by (t, y);
 * the growth in MB/h and the points fitted when it holds. */
static bool tracker_is_suspect(const struct tracker *tr, double t_new,
			       double y_new, double leak_age_s,
			       double *growth_mb_h, size_t *n_out)
{
	double t[MM_SERIES_LEN], y[MM_SERIES_LEN], slope;
	unsigned int i, n = 0, skip, ups = 0;

	if (tr->p_age < leak_age_s)
		return false;
	/* the oldest point falls out when the ring is full */
	skip = tr->n == MM_SERIES_LEN ? 1 : 0;
	for (i = skip; i < tr->n; i++, n++) {
		t[n] = tr->t[(tr->first + i) % MM_SERIES_LEN];
		y[n] = tr->y[(tr->first + i) % MM_SERIES_LEN];
	}
	t[n] = t_new;
	y[n] = y_new;
	n++;
	if (n < 3)
		return false;
	for (i = 1; i < n; i++) {
		if (y[i] > y[i - 1])
			ups++;
	}
	if (!(y[n - 1] > y[0]) || 3 * ups < 2 * (n - 1))
		return false;
	slope = memmetrics__slope(t, y, n);
	if (!(slope > 0))
		return false;
	*growth_mb_h = slope * 3600.0 / MM_MB;
	*n_out = n;
	return true;
}

/* Remember a flagged stack id; best effort: false when full or out of
 * memory. */
static bool flagged_add(struct memmetrics *m, uint32_t key)
{
	if (u64map__get(&m->flagged, key))
		return true;
	if (m->flagged.len >= MAX_FLAGGED)
		return false;
	return u64map__set(&m->flagged, key, 1) == 0;
}

/* Label index of a leak component: its own for the first
 * MM_MAX_COMPONENTS names, MM_MAX_COMPONENTS ("other") after. */
static size_t leak_label(struct memmetrics *m, const char *component)
{
	size_t i;

	for (i = 0; i < m->n_leak_labels; i++) {
		if (!strcmp(m->leak_labels[i], component))
			return i;
	}
	if (m->n_leak_labels >= MM_MAX_COMPONENTS)
		return MM_MAX_COMPONENTS;
	m->leak_labels[i] = strdup(component);
	if (!m->leak_labels[i])
		return MM_MAX_COMPONENTS;	/* folding beats failing */
	m->n_leak_labels++;
	return i;
}

static int suspect_cmp(const void *a, const void *b)
{
	const struct mm_suspect *x = a, *y = b;

	if (x->live_bytes != y->live_bytes)
		return x->live_bytes > y->live_bytes ? -1 : 1;
	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	return 0;
}

static void suspects_free(struct mm_suspect *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((char *)v[i].component);
	free(v);
}

/* Stacks with nothing live this window are done with. */
static void stacks_compact(struct memmetrics *m)
{
	size_t i, j;

	for (i = j = 0; i < m->n_trk; i++) {
		if (m->trk[i].seen) {
			if (i != j)
				m->trk[j] = m->trk[i];
			j++;
		} else {
			tracker_drop(m, i);
		}
	}
	m->n_trk = j;
	if (m->n_trk > MM_MAX_STACKS)
		stacks_trim(m, MM_MAX_STACKS);
	else
		stacks_reindex(m);
}

/* The suspects of the window ending at t_s, in tracker order, into a new
 * *out (changing nothing else). 0 or -ENOMEM. */
static int suspects_decide(struct memmetrics *m, double t_s,
			   struct mm_suspect **out, size_t *n_out)
{
	struct mm_suspect *sus = NULL;
	size_t i, n_sus = 0;

	*out = NULL;
	*n_out = 0;
	if (!m->n_trk)
		return 0;
	sus = calloc(m->n_trk, sizeof(*sus));
	if (!sus)
		return -ENOMEM;
	for (i = 0; i < m->n_trk; i++) {
		struct tracker *tr = &m->trk[i];
		struct mm_suspect *s = &sus[n_sus];
		double growth = 0;
		size_t n = 0;

		if (!tracker_is_suspect(tr, t_s, tr->p_bytes, m->leak_age_s,
					&growth, &n))
			continue;
		s->component = strdup(tr->component);
		if (!s->component) {
			suspects_free(sus, n_sus);
			return -ENOMEM;
		}
		n_sus++;
		s->stack_id = tr->stack_id;
		s->live_bytes = tr->p_bytes;
		s->live_objects = tr->p_objects;
		s->oldest_age_s = tr->p_age;
		s->growth_mb_h = growth;
		s->severity = memmetrics__severity(tr->p_bytes, growth);
		s->n_windows = n;
	}
	*out = sus;
	*n_out = n_sus;
	return 0;
}

/* A suspect tracker's share of the leak metrics. */
static void leak_account(struct memmetrics *m, struct tracker *tr,
			 const struct mm_suspect *s,
			 double cur_objects[][MM_SEV__COUNT])
{
	struct leak_key *lk;
	size_t label;

	m->growth_sum += s->growth_mb_h;
	if (!tr->flagged && !u64map__get(&m->flagged, tr->stack_id))
		m->leak_count += 1;
	tr->flagged = true;
	flagged_add(m, tr->stack_id);
	label = leak_label(m, tr->component);
	lk = &m->leak[label][s->severity];
	lk->live = true;
	lk->used = true;
	hist_merge(&lk->hist, &tr->p_hist);
	cur_objects[label][s->severity] += tr->p_objects;
}

/* Make room for n more session suspects, so that window_commit cannot
 * fail. 0 or -ENOMEM. */
static int history_reserve(struct memmetrics *m, size_t n)
{
	size_t want = m->n_hist + n, ncap;
	struct mm_session_suspect *nv;

	if (want > MM_MAX_SESSION_SUSPECTS)
		want = MM_MAX_SESSION_SUSPECTS;
	if (want <= m->cap_hist)
		return 0;
	ncap = m->cap_hist ? m->cap_hist * 2 : 16;
	if (ncap < want)
		ncap = want;
	nv = reallocarray(m->hist, ncap, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	m->hist = nv;
	m->cap_hist = ncap;
	return 0;
}

/* Note suspect s in the session's list (room was reserved; a name or an
 * index entry that cannot be allocated only loses this update). */
static void history_note(struct memmetrics *m, const struct mm_suspect *s,
			 double t_s)
{
	uint64_t *idx = u64map__get(&m->hist_index, s->stack_id);
	struct mm_session_suspect *h;
	char *name;

	if (idx) {
		h = &m->hist[*idx];
	} else {
		if (m->n_hist >= m->cap_hist ||
		    u64map__set(&m->hist_index, s->stack_id, m->n_hist))
			return;
		h = &m->hist[m->n_hist++];
		memset(h, 0, sizeof(*h));
		h->stack_id = s->stack_id;
		h->first_s = t_s;
	}
	name = strdup(s->component);
	if (name) {
		free((char *)h->component);
		h->component = name;
	}
	h->last_bytes = s->live_bytes;
	h->last_objects = s->live_objects;
	h->last_age_s = s->oldest_age_s;
	if (s->severity > h->peak_severity)
		h->peak_severity = s->severity;
	if (s->growth_mb_h > h->peak_growth_mb_h)
		h->peak_growth_mb_h = s->growth_mb_h;
	if (s->live_bytes > h->peak_live_bytes)
		h->peak_live_bytes = s->live_bytes;
	h->last_s = t_s;
}

/* Is each session suspect still live at the window ending at t_s? Runs
 * after the trackers were compacted (those left have live blocks). */
static void history_update_live(struct memmetrics *m, double t_s)
{
	size_t i;

	for (i = 0; i < m->n_hist; i++) {
		struct mm_session_suspect *h = &m->hist[i];
		uint64_t *idx = u64map__get(&m->trk_index, h->stack_id);

		uint64_t *unv = u64map__get(&m->unverified, h->stack_id);

		h->live = idx && m->trk[*idx].p_bytes > 0;
		h->live_bytes = h->live ? m->trk[*idx].p_bytes : 0;
		h->unverified = unv != NULL;
		h->unverified_bytes = 0;
		if (unv)
			memcpy(&h->unverified_bytes, unv,
			       sizeof(h->unverified_bytes));
		if (h->live || h->unverified) {
			h->freed_s = 0;
			h->freed_windows = 0;
			continue;
		}
		if (!h->freed_s)
			h->freed_s = t_s;
		if (h->freed_windows < UINT_MAX)
			h->freed_windows++;
	}
}

/* Extend every series, account the suspects (sus[] is in tracker order)
 * and take ownership of sus. Cannot fail. */
static void window_commit(struct memmetrics *m, double t_s,
			  struct mm_suspect *sus, size_t n_sus)
{
	double cur_objects[MM_MAX_COMPONENTS + 1][MM_SEV__COUNT] = {};
	size_t i, j, k;

	for (i = 0; i < MM_MAX_COMPONENTS + 1; i++) {
		for (k = 0; k < MM_SEV__COUNT; k++) {
			memset(&m->leak[i][k].hist, 0,
			       sizeof(m->leak[i][k].hist));
			m->leak[i][k].live = false;
		}
	}
	m->growth_sum = 0;
	for (i = 0; i < n_sus; i++)
		history_note(m, &sus[i], t_s);
	history_update_live(m, t_s);
	for (i = 0, j = 0; i < m->n_trk; i++) {
		struct tracker *tr = &m->trk[i];

		series_push(tr, t_s, tr->p_bytes);
		tr->last_bytes = tr->p_bytes;
		tr->suspect = j < n_sus && sus[j].stack_id == tr->stack_id;
		if (tr->suspect)
			leak_account(m, tr, &sus[j++], cur_objects);
		tr->seen = false;
		tr->p_bytes = tr->p_objects = tr->p_age = 0;
		memset(&tr->p_hist, 0, sizeof(tr->p_hist));
	}
	for (i = 0; i < MM_MAX_COMPONENTS + 1; i++) {
		for (k = 0; k < MM_SEV__COUNT; k++) {
			struct leak_key *lk = &m->leak[i][k];

			if (cur_objects[i][k] > lk->hw_objects)
				lk->hw_objects = cur_objects[i][k];
		}
	}
	if (n_sus)
		qsort(sus, n_sus, sizeof(*sus), suspect_cmp);
	suspects_free(m->suspects, m->n_suspects);
	m->suspects = sus;
	m->n_suspects = n_sus;
}

int memmetrics__end_window(struct memmetrics *m, double t_s,
			   const struct proc_mem *proc, double heap_live_bytes)
{
	struct mm_suspect *sus;
	size_t n_sus;
	int err;

	if (!m || !isfinite(t_s) || (m->have_window && !(t_s > m->t_s)))
		return -EINVAL;
	stacks_compact(m);
	/* Decide first, so that a failed allocation changes nothing. */
	err = suspects_decide(m, t_s, &sus, &n_sus);
	if (err)
		return err;
	err = history_reserve(m, n_sus) ?: comps_rebalance(m, t_s);
	if (err) {
		suspects_free(sus, n_sus);
		return err;
	}
	window_commit(m, t_s, sus, n_sus);
	u64map__free(&m->unverified);
	m->have_window = true;
	m->prev_t_s = m->t_s;
	m->t_s = t_s;
	m->heap_live = heap_live_bytes;
	m->have_proc = proc != NULL;
	if (proc)
		m->proc = *proc;
	return 0;
}

/* --- lifecycle ---------------------------------------------------------- */

struct memmetrics *memmetrics__new(const char *session_id,
				   const char *exe_component,
				   double leak_age_s, double start_s)
{
	struct memmetrics *m;

	if (!session_id || !exe_component || !isfinite(start_s) ||
	    isnan(leak_age_s)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		goto err_nomem;
	m->session_id = strdup(session_id);
	m->exe = strdup(exe_component);
	if (!m->session_id || !m->exe)
		goto err_nomem;
	m->leak_age_s = leak_age_s > 0 ? leak_age_s : MM_DEFAULT_LEAK_AGE_S;
	m->start_s = start_s;
	m->t_s = start_s;
	m->prev_t_s = start_s;
	return m;

err_nomem:
	memmetrics__free(m);
	errno = ENOMEM;
	return NULL;
}

void memmetrics__free(struct memmetrics *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n_comps; i++) {
		free(m->comps[i].name);
		acc__clear(&m->comps[i].acc);
	}
	free(m->comps);
	acc__clear(&m->other_base);
	acc__clear(&m->other_last);
	for (i = 0; i < m->n_trk; i++)
		free(m->trk[i].component);
	free(m->trk);
	table__free(&m->comp_index);
	u64map__free(&m->trk_index);
	u64map__free(&m->flagged);
	for (i = 0; i < m->n_leak_labels; i++)
		free(m->leak_labels[i]);
	suspects_free(m->suspects, m->n_suspects);
	for (i = 0; i < m->n_hist; i++)
		free((char *)m->hist[i].component);
	free(m->hist);
	u64map__free(&m->hist_index);
	u64map__free(&m->unverified);
	free(m->session_id);
	free(m->exe);
	free(m);
}

void memmetrics__stats(const struct memmetrics *m, struct mm_stats *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof(*out));
	if (!m)
		return;
	out->stacks = m->n_trk;
	out->components = m->n_comps;
	out->stacks_dropped = m->stacks_dropped;
	out->components_folded = m->components_folded;
}
