// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memmetrics_snapshot.c - the metrics model as plain points: every metric
 * of memmetrics.h in the order, the labels and strings owned by
 * the snapshot, and the leak suspects. Taking a snapshot commits what
 * "other" reported, so that it never goes down in the next one.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/memmetrics.h"
#include "model/memmetrics_impl.h"

enum metric_id {
	M_RSS, M_HEAP, M_VIRT, M_LEAK_COUNT, M_LEAK_GROWTH, M_LEAK_SIZE,
	M_LEAK_ALLOCS, M_ALLOC_COUNT, M_ALLOC_BYTES, M_ALLOC_SIZE, M_EFF,
	M_ALLOCATOR, M_DIST, M_ON_RATIO, M_UNVERIFIED,
};

static const struct metric_def {
	const char *name, *unit, *desc;
	enum mm_kind kind;
} metric_defs[] = {
	[M_RSS] = { "memory.rss_bytes", "By",
		    "Resident set size of the target process", MM_KIND_GAUGE },
	[M_HEAP] = { "memory.heap_bytes", "By",
		     "Live heap bytes as tracked (scaled when sampled)",
		     MM_KIND_GAUGE },
	[M_VIRT] = { "memory.virtual_bytes", "By",
		     "Virtual size of the target process", MM_KIND_GAUGE },
	[M_LEAK_COUNT] = { "memory.leak.count", "{leak}",
			   "Distinct stacks ever flagged as leak suspects",
			   MM_KIND_COUNTER },
	[M_LEAK_GROWTH] = { "memory.leak.growth_rate_mb_h", "MBy/h",
			    "Sum of the current leak suspects' growth rates",
			    MM_KIND_GAUGE },
	[M_LEAK_SIZE] = { "memory.leak.size_bytes", "By",
			  "Sizes of the leak suspects' live blocks",
			  MM_KIND_HISTOGRAM },
	[M_LEAK_ALLOCS] = { "memory.leak.allocation_count", "{block}",
			    "High-water mark of the leak suspects' live blocks",
			    MM_KIND_COUNTER },
	[M_ALLOC_COUNT] = { "memory.allocation.count", "{allocation}",
			    "Allocations", MM_KIND_COUNTER },
	[M_ALLOC_BYTES] = { "memory.allocation.total_bytes", "By",
			    "Bytes allocated", MM_KIND_COUNTER },
	[M_ALLOC_SIZE] = { "memory.allocation.size_bytes", "By",
			   "Allocation sizes", MM_KIND_HISTOGRAM },
	[M_EFF] = { "memory.allocation.efficiency_score", "1",
		    "Allocation efficiency (size class and alignment waste)",
		    MM_KIND_GAUGE },
	[M_ALLOCATOR] = { "memory.allocator.total_bytes", "By",
			  "Allocator footprint: Rss of [heap] and private anonymous mappings",
			  MM_KIND_GAUGE },
	[M_DIST] = { "memory.allocation.distribution", "{allocation}",
		     "Allocations by size category", MM_KIND_COUNTER },
	/* only when the overhead budget paused the heap probes */
	[M_ON_RATIO] = { "memtel.heap.probes.on_ratio", "1",
			 "Share of the time the heap probes were on (overhead budget); allocation figures are scaled up by its inverse",
			 MM_KIND_GAUGE },
	[M_UNVERIFIED] = { "memtel.heap.unverified_bytes", "By",
			   "Live heap bytes allocated before the heap probes paused: they may since have been freed",
			   MM_KIND_GAUGE },
};

struct snap_build {
	struct mm_snapshot *s;
	size_t cap;
};

static const char *snap_str(struct mm_snapshot *s, const char *str)
{
	char *dup;

	if (s->n_strs == s->cap_strs) {
		size_t ncap = s->cap_strs ? s->cap_strs * 2 : 64;
		char **nv = reallocarray(s->strs, ncap, sizeof(*nv));

		if (!nv)
			return NULL;
		s->strs = nv;
		s->cap_strs = ncap;
	}
	dup = strdup(str);
	if (!dup)
		return NULL;
	s->strs[s->n_strs++] = dup;
	return dup;
}

/* Append a point of metric id with up to two labels (key NULL: none). */
static struct mm_point *snap_point(struct snap_build *b, enum metric_id id,
				   double start_s, const char *k1,
				   const char *v1, const char *k2,
				   const char *v2)
{
	struct mm_snapshot *s = b->s;
	const char *keys[2] = { k1, k2 }, *vals[2] = { v1, v2 };
	struct mm_point *p;
	size_t i;

	if (s->n_points == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct mm_point *nv;

		nv = reallocarray(s->points, ncap, sizeof(*nv));
		if (!nv)
			return NULL;
		s->points = nv;
		b->cap = ncap;
	}
	p = &s->points[s->n_points];
	memset(p, 0, sizeof(*p));
	p->name = metric_defs[id].name;
	p->unit = metric_defs[id].unit;
	p->description = metric_defs[id].desc;
	p->kind = metric_defs[id].kind;
	p->start_s = start_s;
	p->time_s = s->time_s;
	for (i = 0; i < 2; i++) {
		if (!keys[i])
			continue;
		p->labels[p->n_labels].key = keys[i];
		p->labels[p->n_labels].value = snap_str(s, vals[i]);
		if (!p->labels[p->n_labels].value)
			return NULL;
		p->n_labels++;
	}
	s->n_points++;
	return p;
}

/* A reported component: a promoted one or "other". */
struct row {
	const char *name;
	const struct acc *acc;
	double start_s;
};

static int snap_alloc_metrics(struct snap_build *b, const struct row *rows,
			      size_t n)
{
	struct mm_point *p;
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < rows[i].acc->n_ops; j++) {
			p = snap_point(b, M_ALLOC_COUNT, rows[i].start_s,
				       "component", rows[i].name, "operation",
				       rows[i].acc->ops[j].name);
			if (!p)
				return -ENOMEM;
			p->value = rows[i].acc->ops[j].count;
		}
	}
	for (i = 0; i < n; i++) {
		p = snap_point(b, M_ALLOC_BYTES, rows[i].start_s, "component",
			       rows[i].name, NULL, NULL);
		if (!p)
			return -ENOMEM;
		p->value = rows[i].acc->bytes;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < rows[i].acc->n_ops; j++) {
			p = snap_point(b, M_ALLOC_SIZE, rows[i].start_s,
				       "component", rows[i].name, "operation",
				       rows[i].acc->ops[j].name);
			if (!p)
				return -ENOMEM;
			hist_acc__export(&p->hist, &rows[i].acc->ops[j].hist);
		}
	}
	for (i = 0; i < n; i++) {
		const struct acc *a = rows[i].acc;

		if (!(a->eff_w > 0))
			continue;	/* nothing allocated: no score */
		p = snap_point(b, M_EFF, rows[i].start_s, "component",
			       rows[i].name, NULL, NULL);
		if (!p)
			return -ENOMEM;
		p->value = a->eff_sum / a->eff_w;
		if (p->value > 1.0)
			p->value = 1.0;
	}
	return 0;
}

static int snap_leak_metrics(struct snap_build *b, struct memmetrics *m)
{
	struct mm_point *p;
	size_t i, k;

	p = snap_point(b, M_LEAK_COUNT, m->start_s, "status", "detected",
		       NULL, NULL);
	if (!p)
		return -ENOMEM;
	p->value = m->leak_count;
	p = snap_point(b, M_LEAK_GROWTH, m->start_s, "metric", "growth_rate",
		       NULL, NULL);
	if (!p)
		return -ENOMEM;
	p->value = m->growth_sum;

	for (i = 0; i <= MM_MAX_COMPONENTS; i++) {
		for (k = 0; k < MM_SEV__COUNT; k++) {
			const struct leak_key *lk = &m->leak[i][k];

			if (!lk->live)
				continue;
			/* the current suspects' blocks: a cumulative series
			 * that restarts each window (a new start time), so
			 * backends never read a decrease as a counter reset */
			p = snap_point(b, M_LEAK_SIZE, m->prev_t_s, "component",
				       i < MM_MAX_COMPONENTS ?
				       m->leak_labels[i] : MM_OTHER,
				       "severity", memmetrics__severity_name(k));
			if (!p)
				return -ENOMEM;
			hist_acc__export(&p->hist, &lk->hist);
		}
	}
	for (i = 0; i <= MM_MAX_COMPONENTS; i++) {
		for (k = 0; k < MM_SEV__COUNT; k++) {
			const struct leak_key *lk = &m->leak[i][k];

			if (!lk->used)
				continue;
			p = snap_point(b, M_LEAK_ALLOCS, m->start_s,
				       "component",
				       i < MM_MAX_COMPONENTS ?
				       m->leak_labels[i] : MM_OTHER,
				       "severity", memmetrics__severity_name(k));
			if (!p)
				return -ENOMEM;
			p->value = lk->hw_objects;
		}
	}
	return 0;
}

static int snap_proc_gauge(struct snap_build *b, struct memmetrics *m,
			   enum metric_id id, double value, bool session)
{
	struct mm_point *p;

	p = snap_point(b, id, m->start_s, "component", m->exe,
		       session ? "session_id" : NULL, m->session_id);
	if (!p)
		return -ENOMEM;
	p->value = value;
	return 0;
}

/* The report rows: every promoted component, then "other" (in *other:
 * everything folded plus every unpromoted component, never below what it
 * reported last time) if it has allocations. *rows is malloc'ed. 0 or
 * -ENOMEM. */
static int snap_rows(struct memmetrics *m, struct acc *other,
		     struct row **rows_out, size_t *n_out)
{
	struct row *rows;
	size_t i, n_rows = 0;
	int err;

	err = acc__merge(other, &m->other_base);
	for (i = 0; !err && i < m->n_comps; i++) {
		if (!m->comps[i].promoted)
			err = acc__merge(other, &m->comps[i].acc);
	}
	if (err)
		return err;
	acc__clamp(other, &m->other_last);
	rows = calloc(m->n_promoted + 1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	for (i = 0; i < m->n_comps; i++) {
		if (!m->comps[i].promoted)
			continue;
		rows[n_rows].name = m->comps[i].name;
		rows[n_rows].acc = &m->comps[i].acc;
		rows[n_rows].start_s = m->comps[i].start_s;
		n_rows++;
	}
	if (other->eff_w > 0) {
		rows[n_rows].name = MM_OTHER;
		rows[n_rows].acc = other;
		rows[n_rows].start_s = m->start_s;
		n_rows++;
	}
	*rows_out = rows;
	*n_out = n_rows;
	return 0;
}

/* Every metric's points, in the order. 0 or -ENOMEM. */
static int snap_points(struct snap_build *b, struct memmetrics *m,
		       const struct row *rows, size_t n_rows)
{
	size_t i;
	int err;

	if (m->have_proc &&
	    snap_proc_gauge(b, m, M_RSS, (double)m->proc.rss_bytes, true))
		return -ENOMEM;
	if (m->have_window &&
	    snap_proc_gauge(b, m, M_HEAP, m->heap_live, true))
		return -ENOMEM;
	if (m->have_proc &&
	    snap_proc_gauge(b, m, M_VIRT, (double)m->proc.virtual_bytes, true))
		return -ENOMEM;
	err = snap_leak_metrics(b, m);
	if (!err)
		err = snap_alloc_metrics(b, rows, n_rows);
	if (err)
		return err;
	if (m->have_proc &&
	    snap_proc_gauge(b, m, M_ALLOCATOR,
			    (double)m->proc.allocator_bytes, false))
		return -ENOMEM;
	for (i = 0; i < NCATS; i++) {
		struct mm_point *p;

		p = snap_point(b, M_DIST, m->start_s, "size_category",
			       mm_cat_names[i], NULL, NULL);
		if (!p)
			return -ENOMEM;
		p->value = m->dist[i];
	}
	if (m->partial &&
	    (snap_proc_gauge(b, m, M_ON_RATIO, m->on_fraction, true) ||
	     snap_proc_gauge(b, m, M_UNVERIFIED, m->unverified_bytes, true)))
		return -ENOMEM;
	return 0;
}

/* Copies of the suspects, their strings in the snapshot. 0 or -ENOMEM. */
static int snap_suspects(struct mm_snapshot *s, const struct memmetrics *m)
{
	size_t i;

	if (!m->n_suspects)
		return 0;
	s->suspects = calloc(m->n_suspects, sizeof(*s->suspects));
	if (!s->suspects)
		return -ENOMEM;
	for (i = 0; i < m->n_suspects; i++) {
		s->suspects[i] = m->suspects[i];
		s->suspects[i].component = snap_str(s, m->suspects[i].component);
		if (!s->suspects[i].component)
			return -ENOMEM;
		s->n_suspects++;
	}
	return 0;
}

/* Worst peak severity first, then the larger peak, then the stack id. */
static int session_suspect_cmp(const void *a, const void *b)
{
	const struct mm_session_suspect *x = a, *y = b;

	if (x->peak_severity != y->peak_severity)
		return x->peak_severity > y->peak_severity ? -1 : 1;
	if (x->peak_live_bytes != y->peak_live_bytes)
		return x->peak_live_bytes > y->peak_live_bytes ? -1 : 1;
	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	return 0;
}

/* Copies of the session suspects, sorted. 0 or -ENOMEM. */
static int snap_session_suspects(struct mm_snapshot *s,
				 const struct memmetrics *m)
{
	size_t i;

	if (!m->n_hist)
		return 0;
	s->session_suspects = calloc(m->n_hist, sizeof(*s->session_suspects));
	if (!s->session_suspects)
		return -ENOMEM;
	for (i = 0; i < m->n_hist; i++) {
		struct mm_session_suspect *h = &s->session_suspects[i];

		*h = m->hist[i];
		h->component = snap_str(s, m->hist[i].component ?
					   m->hist[i].component : UNKNOWN);
		if (!h->component)
			return -ENOMEM;
		s->n_session_suspects++;
	}
	qsort(s->session_suspects, s->n_session_suspects,
	      sizeof(*s->session_suspects), session_suspect_cmp);
	return 0;
}

int memmetrics__snapshot(struct memmetrics *m, struct mm_snapshot *out)
{
	struct mm_snapshot s = {};
	struct snap_build b = { .s = &s };
	struct acc other = {};
	struct row *rows = NULL;
	size_t i, n_rows = 0;
	int err;

	if (!m || !out)
		return -EINVAL;
	s.start_s = m->start_s;
	s.time_s = m->t_s;
	s.hist_bounds = memmetrics_hist_bounds;
	s.n_hist_bounds = MM_HIST_NBOUNDS;
	s.session_id = snap_str(&s, m->session_id);
	err = s.session_id ? 0 : -ENOMEM;
	if (!err)
		err = snap_rows(m, &other, &rows, &n_rows);
	if (!err)
		err = snap_points(&b, m, rows, n_rows);
	if (!err)
		err = snap_suspects(&s, m);
	if (!err)
		err = snap_session_suspects(&s, m);
	if (err)
		goto cleanup;

	/* Committed: remember what "other" reported. */
	acc__clear(&m->other_last);
	m->other_last = other;
	memset(&other, 0, sizeof(other));
	for (i = 0; i < m->n_comps; i++) {
		if (!m->comps[i].promoted && m->comps[i].acc.eff_w > 0)
			m->comps[i].in_other = true;
	}
	*out = s;
	memset(&s, 0, sizeof(s));

cleanup:
	free(rows);
	acc__clear(&other);
	mm_snapshot__free(&s);
	return err;
}

int mm_snapshot__append(struct mm_snapshot *s, const struct mm_point *pt)
{
	struct mm_point *nv, *p;
	size_t i;

	if (pt->n_labels > MM_MAX_LABELS)
		return -EINVAL;
	nv = reallocarray(s->points, s->n_points + 1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	s->points = nv;
	p = &s->points[s->n_points];
	*p = *pt;
	for (i = 0; i < pt->n_labels; i++) {
		p->labels[i].value = snap_str(s, pt->labels[i].value);
		if (!p->labels[i].value)
			return -ENOMEM;
	}
	s->n_points++;
	return 0;
}

void mm_snapshot__free(struct mm_snapshot *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_strs; i++)
		free(s->strs[i]);
	free(s->strs);
	free(s->points);
	free(s->suspects);
	free(s->session_suspects);
	memset(s, 0, sizeof(*s));
}
