// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * telemetry.c - export windows for the memory metrics.
 *
 * A window walks the live sampled blocks once, grouping them by stack
 * (live bytes and objects, the oldest block's age, the block sizes for
 * the leak histogram), hands each stack to memmetrics with its component
 * (the allocating function), closes the window with the process's RSS /
 * virtual / allocator figures, and encodes the snapshot: protobuf onto the
 * exporter's queue (a background thread does the HTTP), or one OTLP/JSON
 * line onto DIR/metrics.jsonl, written per window so a person (or `tail
 * -f`) sees it as it happens.
 *
 * metrics.jsonl is the one output file that grows during the session, so
 * it cannot be written atomically: outfile__create() replaces whatever
 * stands at its name (a planted link is removed, never followed), each line
 * is encoded in memory and written whole, and a write that fails part-way
 * (a full disk) is cut back with ftruncate(), so the file holds only whole
 * lines. Its size is capped; lines past the cap are counted, not written.
 * leaks.txt is rewritten every window, through outfile__write(), with
 * every leak suspect of the session so far.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinks/otlp/otlp_export.h"
#include "sinks/otlp/otlp_metrics.h"
#include "sinks/otlp/otlp_resource.h"
#include "model/overhead.h"
#include "sinks/telemetry.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/fmt.h"
#include "util/log.h"
#include "util/u64map.h"

struct stack_acc {
	uint32_t stack_id;
	double bytes, objects;
	uint64_t oldest_ns;
	uint64_t *sizes;
	double *weights;
	size_t n, cap;
};

struct telemetry {
	struct telemetry_opts o;
	struct otlp_resource res;
	struct otlp_exporter *exp;
	FILE *jsonl;		/* written with write(2) on its fd only */
	char *jsonl_path, *leaks_path;
	uint64_t jsonl_max, jsonl_bytes;
	uint64_t windows;	/* computed */
	uint64_t lines;		/* written to metrics.jsonl */
	uint64_t dropped;	/* windows not written: cap or write error */
	int jsonl_err;		/* the write error that stopped metrics.jsonl */
	int leaks_err;		/* the last leaks.txt write's error, 0 if it worked */
	int err;		/* first write error of the session */
	bool partial;		/* the budget paused the heap probes */
	double on_fraction, budget_pct;
	struct mm_snapshot last;
	bool have_last;
	const struct overhead *ovh;	/* heap probe cost, or NULL */
};

/* A window's live blocks grouped by stack. */
struct live_groups {
	struct u64map by_stack;	/* stack id -> index into accs */
	struct stack_acc *accs;
	size_t n_accs, cap_accs;
	struct memmetrics *mm;	/* unverified blocks go straight here */
};

static int write_leaks(struct telemetry *t);

struct telemetry *telemetry__new(const struct telemetry_opts *o)
{
	struct telemetry *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return NULL;
	t->o = *o;
	t->jsonl_max = o->jsonl_max ? o->jsonl_max : TELEMETRY_JSONL_MAX;
	if (asprintf(&t->jsonl_path, "%s/metrics.jsonl", o->outdir) < 0 ||
	    asprintf(&t->leaks_path, "%s/leaks.txt", o->outdir) < 0) {
		t->jsonl_path = t->leaks_path = NULL;
		err = -ENOMEM;
		goto fail;
	}
	err = otlp_resource__build(&t->res, o->otel, o->pid, o->exe_path);
	if (err)
		goto fail;
	if (o->exp && o->otel && otel_config__enabled(o->otel, OTLP_METRICS)) {
		t->exp = o->exp;
	} else {
		t->jsonl = outfile__create(t->jsonl_path);
		if (!t->jsonl) {
			err = -errno;
			mt_err("cannot create %s: %s", t->jsonl_path,
			       strerror(errno));
			goto fail;
		}
	}
	return t;
fail:
	telemetry__free(t);
	errno = -err;
	return NULL;
}

void telemetry__free(struct telemetry *t)
{
	if (!t)
		return;
	if (t->jsonl)
		fclose(t->jsonl);	/* nothing buffered: see jsonl_put */
	free(t->jsonl_path);
	free(t->leaks_path);
	if (t->have_last)
		mm_snapshot__free(&t->last);
	otlp_resource__free(&t->res);
	free(t);
}

/* The allocating function of a stack: the innermost frame at its leaf. */
static const char *component(const struct telemetry_model *m,
			     uint32_t stack_id, char *buf, size_t len)
{
	const struct sym_result *r;
	struct stack_view v;

	if (!stacks__get(m->stacks, stack_id, &v) || !v.n)
		return "unknown";
	r = m->syms ? symcache__get(m->syms, v.pid, v.image, v.pcs[0],
				    !v.leaf_exact) : NULL;
	if (r && r->n_frames && r->frames[0].function) {
		snprintf(buf, len, "%s", r->frames[0].function);
		return buf;
	}
	snprintf(buf, len, "0x%llx", (unsigned long long)v.pcs[0]);
	return buf;
}

static int collect_block(const struct heap_block *b, void *ctx)
{
	struct live_groups *t = ctx;
	struct stack_acc *a;
	uint64_t *hit;

	/* its free may have gone unseen: never part of a leak's series */
	if (b->unverified)
		return memmetrics__window_unverified(t->mm, b->stack_id,
						     b->weight * (double)b->size);
	hit = u64map__get(&t->by_stack, b->stack_id);
	if (hit) {
		a = &t->accs[*hit];
	} else {
		if (t->n_accs == t->cap_accs) {
			size_t cap = t->cap_accs ? t->cap_accs * 2 : 64;
			struct stack_acc *n = realloc(t->accs, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			memset(n + t->cap_accs, 0,
			       (cap - t->cap_accs) * sizeof(*n));
			t->accs = n;
			t->cap_accs = cap;
		}
		if (u64map__set(&t->by_stack, b->stack_id, t->n_accs))
			return -ENOMEM;
		a = &t->accs[t->n_accs++];
		a->stack_id = b->stack_id;
		a->bytes = a->objects = 0;
		a->oldest_ns = b->t_ns;
		a->n = 0;
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint64_t *ns = realloc(a->sizes, cap * sizeof(*ns));
		double *nw;

		if (!ns)
			return -ENOMEM;
		a->sizes = ns;
		nw = realloc(a->weights, cap * sizeof(*nw));
		if (!nw)
			return -ENOMEM;
		a->weights = nw;
		a->cap = cap;
	}
	a->sizes[a->n] = b->size;
	a->weights[a->n] = b->weight;
	a->n++;
	a->bytes += b->weight * (double)b->size;
	a->objects += b->weight;
	if (b->t_ns < a->oldest_ns)
		a->oldest_ns = b->t_ns;
	return 0;
}

static void note_err(struct telemetry *t, int err)
{
	if (!t->err)
		t->err = err;
}

/* One line onto metrics.jsonl, whole or not at all: past the cap it is
 * dropped; a write cut short (ENOSPC, EIO) is undone with ftruncate() and
 * ends the file's growth. Either is logged once, here, naming the file;
 * a write error is kept for telemetry__finish() (the session fails) while
 * the windows go on being counted. */
static int jsonl_put(struct telemetry *t, const char *line, size_t len)
{
	int fd = fileno(t->jsonl);
	char cap[32];
	size_t off = 0;

	if (t->jsonl_err) {
		t->dropped++;
		return 0;	/* logged and kept when it happened */
	}
	if (t->jsonl_bytes + len > t->jsonl_max) {
		if (!t->dropped) {
			fmt__bytes((double)t->jsonl_max, cap, sizeof(cap));
			mt_err("%s reached its %s cap: later windows are dropped (counted in the summary)",
			       t->jsonl_path, cap);
		}
		t->dropped++;
		return 0;
	}
	while (off < len) {
		ssize_t n = write(fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			t->jsonl_err = n < 0 ? -errno : -ENOSPC;
			/* keep whole lines only; O_APPEND writes at the end */
			if (off && ftruncate(fd, (off_t)t->jsonl_bytes))
				mt_err("cannot cut %s back to its last whole line: %s",
				       t->jsonl_path, strerror(errno));
			mt_err("cannot write %s: %s (later windows are dropped)",
			       t->jsonl_path, strerror(-t->jsonl_err));
			note_err(t, t->jsonl_err);
			t->dropped++;
			return 0;
		}
		off += (size_t)n;
	}
	t->jsonl_bytes += len;
	t->lines++;
	return 0;
}

/* The window as one OTLP/JSON line, encoded in memory first so that it is
 * written whole. */
static int jsonl_window(struct telemetry *t)
{
	char *line = NULL;
	size_t len = 0;
	FILE *m;
	int err;

	m = open_memstream(&line, &len);
	if (!m)
		return -errno;
	err = otlp_metrics__write_json(&t->last, &t->res, m);
	if (fputc('\n', m) == EOF && !err)
		err = -ENOMEM;
	if (fclose(m) && !err)
		err = -ENOMEM;
	if (!err)
		err = jsonl_put(t, line, len);
	free(line);
	return err;
}

void telemetry__set_overhead(struct telemetry *t, const struct overhead *o)
{
	t->ovh = o;
}

/* The heap probes' cost per tracked process, appended to the window:
 * cumulative hits (counter), the estimated slowdown of the last window and
 * of the session (gauges, 0.05 = 5%), and the calibrated cost per hit. */
static int overhead_points(struct telemetry *t)
{
	static const char *const what[] = { "window", "session" };
	struct overhead_est e[2];
	struct mm_point p;
	char pidbuf[16];
	size_t it, k;
	uint32_t pid;
	int err = 0;

	if (!t->ovh)
		return 0;
	memset(&p, 0, sizeof(p));
	p.start_s = t->last.start_s;
	p.time_s = t->last.time_s;
	p.name = "memtel.probe.cost";
	p.unit = "ns";
	p.description = "Calibrated CPU cost of one heap probe hit";
	p.kind = MM_KIND_GAUGE;
	p.value = overhead__ns_per_hit(t->ovh);
	err = mm_snapshot__append(&t->last, &p);
	p.n_labels = 1;
	p.labels[0].key = "process.pid";
	p.labels[0].value = pidbuf;
	p.name = "memtel.probe.hits";
	p.unit = "{hit}";
	p.description = "Heap probe hits (entries, returns, frees) in the process";
	p.kind = MM_KIND_COUNTER;
	for (it = 0; !err && overhead__next(t->ovh, &it, &pid);) {
		if (!overhead__get(t->ovh, pid, NULL, &e[1]))
			continue;
		snprintf(pidbuf, sizeof(pidbuf), "%u", pid);
		p.value = (double)e[1].hits;
		err = mm_snapshot__append(&t->last, &p);
	}
	p.n_labels = 2;
	p.labels[1].key = "span";
	p.name = "memtel.probe.overhead";
	p.unit = "1";
	p.description = "Estimated slowdown of the process by the heap probes (hits x cost / CPU time without them)";
	p.kind = MM_KIND_GAUGE;
	for (k = 0; k < 2; k++) {
		for (it = 0; !err && overhead__next(t->ovh, &it, &pid);) {
			if (!overhead__get(t->ovh, pid, &e[0], &e[1]))
				continue;
			snprintf(pidbuf, sizeof(pidbuf), "%u", pid);
			p.labels[1].value = what[k];
			p.value = e[k].slowdown;
			err = mm_snapshot__append(&t->last, &p);
		}
	}
	return err;
}

/* The window itself: the model, then the export. */
/* The live set of m->heap by stack into m->mm. 0 or -errno. */
static int window_stacks(const struct telemetry_model *m)
{
	struct live_groups g = { .mm = m->mm };
	uint64_t now = clock__mono_ns();
	char name[256];
	size_t i;
	int err = 0;

	if (m->heap)
		err = heapstate__foreach_live(m->heap, collect_block, &g);
	for (i = 0; !err && i < g.n_accs; i++) {
		struct stack_acc *a = &g.accs[i];
		double age = now > a->oldest_ns ?
			(double)(now - a->oldest_ns) / 1e9 : 0;

		err = memmetrics__window_stack(m->mm, a->stack_id,
					       component(m, a->stack_id, name,
							 sizeof(name)),
					       a->bytes, a->objects, age,
					       a->sizes, a->weights, a->n);
	}
	for (i = 0; i < g.cap_accs; i++) {
		free(g.accs[i].sizes);
		free(g.accs[i].weights);
	}
	free(g.accs);
	u64map__free(&g.by_stack);
	return err;
}

int telemetry__model_window(const struct telemetry_model *m, double t_unix,
			    struct mm_snapshot *out)
{
	struct heap_totals tot;
	struct proc_mem proc;
	int err;

	err = window_stacks(m);
	if (err)
		return err;
	memset(&tot, 0, sizeof(tot));
	if (m->heap)
		heapstate__totals(m->heap, &tot);
	if (m->partial)
		memmetrics__set_partial(m->mm, m->on_fraction,
					tot.unverified_bytes);
	err = procstat__read_mem(m->pid, &proc);
	err = memmetrics__end_window(m->mm, t_unix, err ? NULL : &proc,
				     tot.inuse_bytes);
	return err ?: memmetrics__snapshot(m->mm, out);
}

static int window(struct telemetry *t, double t_unix)
{
	struct telemetry_model m = {
		.heap = t->o.heap, .stacks = t->o.stacks, .syms = t->o.syms,
		.mm = t->o.mm, .pid = t->o.pid,
		.partial = t->partial, .on_fraction = t->on_fraction,
	};
	uint8_t *buf = NULL;
	size_t len;
	int err;

	if (t->have_last)
		mm_snapshot__free(&t->last);
	t->have_last = false;
	err = telemetry__model_window(&m, t_unix, &t->last);
	if (err)
		return err;
	t->have_last = true;
	err = overhead_points(t);
	if (err)
		return err;
	t->windows++;

	if (t->exp) {
		err = otlp_metrics__encode(&t->last, &t->res, &buf, &len);
		if (err)
			return err;
		/* the queue owns buf from here; never blocks */
		return otlp_exporter__enqueue(t->exp, OTLP_METRICS, buf, len);
	}
	return jsonl_window(t);
}

/* DIR/leaks.txt as of the last window, replaced whole. A failure is
 * logged once per streak, naming the file, and kept for
 * telemetry__finish(). */
static int write_leaks(struct telemetry *t);

int telemetry__window(struct telemetry *t, double t_unix)
{
	int err = window(t, t_unix), lerr;

	if (!t->have_last)
		return err;
	/* a person (or a script) can read the suspects while it runs; an
	 * export that failed does not cost the file, nor the file the
	 * export */
	lerr = write_leaks(t);
	return err ?: lerr;
}

/* Every suspect of the session: peak severity and growth, the live set
 * when last flagged, and whether it is still live (a leak the program
 * frees at exit was still one during the run). */
static void print_suspects(struct telemetry *t, FILE *out, int max_frames)
{
	const struct mm_snapshot *s = &t->last;
	size_t i;

	if (t->partial)
		fprintf(out, "partial: heap probes on %.0f%% of the time (--max-overhead %g%%); leak analysis covers only blocks allocated while they were on\n",
			100 * t->on_fraction, t->budget_pct);
	if (!t->have_last || !s->n_session_suspects) {
		fprintf(out, "leak suspects: none\n");
		return;
	}
	fprintf(out, "leak suspects: %zu\n", s->n_session_suspects);
	for (i = 0; i < s->n_session_suspects; i++) {
		const struct mm_session_suspect *x = &s->session_suspects[i];
		struct stack_view v;
		char state[64];
		uint32_t k;

		if (x->live)
			snprintf(state, sizeof(state), "still live");
		else if (x->unverified)
			snprintf(state, sizeof(state), "unverified: live when the probes paused");
		else if (x->freed_windows <= 2 || s->time_s - x->freed_s < 1)
			/* a launched target's last two windows are taken as
			 * it exits and as the session ends; a slow exit (a
			 * sanitizer's, a big profile written) may close a
			 * third within the same second */
			snprintf(state, sizeof(state), "freed at exit");
		else
			snprintf(state, sizeof(state), "freed %.0f s before the end",
				 s->time_s - x->freed_s);
		fprintf(out, "  [%s] %s: %.0f bytes live in %.0f blocks, growing %.2f MB/h, oldest %.0f s, %s\n",
			memmetrics__severity_name(x->peak_severity),
			x->component, x->last_bytes, x->last_objects,
			x->peak_growth_mb_h, x->last_age_s, state);
		if (!t->o.syms || !stacks__get(t->o.stacks, x->stack_id, &v))
			continue;
		for (k = 0; k < v.n && (int)k < max_frames; k++) {
			const struct sym_result *r = symcache__get(
				t->o.syms, v.pid, v.image, v.pcs[k],
				stack_view__is_return(&v, k));

			if (r->n_frames && r->frames[0].function && r->frames[0].file)
				fprintf(out, "      %s %s:%d\n",
					r->frames[0].function, r->frames[0].file,
					r->frames[0].line);
			else if (r->n_frames && r->frames[0].function)
				fprintf(out, "      %s\n", r->frames[0].function);
			else
				fprintf(out, "      0x%llx\n",
					(unsigned long long)v.pcs[k]);
		}
	}
}

static int leaks_emit(FILE *f, void *ctx)
{
	errno = 0;
	print_suspects(ctx, f, 64);
	return outfile__error(f);	/* ENOSPC, not EIO */
}

static int write_leaks(struct telemetry *t)
{
	int err = outfile__write(t->leaks_path, leaks_emit, t);

	if (err && !t->leaks_err)
		mt_err("cannot write %s: %s", t->leaks_path, strerror(-err));
	t->leaks_err = err;
	if (err)
		note_err(t, err);
	return err;
}

int telemetry__finish(struct telemetry *t, double t_unix)
{
	int err;

	/* the window rewrites leaks.txt (and logs its failure) */
	err = window(t, t_unix);
	if (err) {
		mt_err("metrics: last window: %s", strerror(-err));
		note_err(t, err);
	}
	if (t->have_last)
		write_leaks(t);
	return t->err;
}

void telemetry__set_partial(struct telemetry *t, double on_fraction,
			    double budget_pct)
{
	t->partial = true;
	t->on_fraction = on_fraction;
	t->budget_pct = budget_pct;
}

void telemetry__print(struct telemetry *t, FILE *out)
{
	print_suspects(t, out, 4);
	if (t->exp) {
		struct otlp_export_stats s;

		otlp_exporter__stats(t->exp, &s);
		fprintf(out, "OTLP export: %llu sent, %llu failed, %llu retried, %llu dropped\n",
			(unsigned long long)s.sent, (unsigned long long)s.failed,
			(unsigned long long)s.retried,
			/* what is still queued after the final flush is
			 * dropped when the exporter stops */
			(unsigned long long)(s.dropped_queue_full +
					     s.dropped_after_retries +
					     s.queued));
	} else if (!t->dropped) {
		fprintf(out, "metrics: %s (%llu windows)\n", t->jsonl_path,
			(unsigned long long)t->lines);
	} else {
		char cap[32], why[128];

		fmt__bytes((double)t->jsonl_max, cap, sizeof(cap));
		if (t->jsonl_err)
			snprintf(why, sizeof(why), "after a write error: %s",
				 strerror(-t->jsonl_err));
		else
			snprintf(why, sizeof(why), "past its %s cap", cap);
		fprintf(out, "metrics: %s (%llu windows, %llu dropped %s)\n",
			t->jsonl_path, (unsigned long long)t->lines,
			(unsigned long long)t->dropped, why);
	}
}
