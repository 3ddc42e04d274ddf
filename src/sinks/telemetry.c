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
 * line onto DIR/metrics.jsonl, flushed per window so a person (or `tail
 * -f`) sees it as it happens. Each window also rewrites DIR/leaks.txt
 * with every leak suspect of the session so far.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/fileio.h"
#include "util/log.h"
#include "sinks/otlp/otlp_export.h"
#include "sinks/otlp/otlp_metrics.h"
#include "sinks/otlp/otlp_resource.h"
#include "sinks/telemetry.h"
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
	FILE *jsonl;
	uint64_t windows;
	struct mm_snapshot last;
	bool have_last;
	/* window scratch */
	struct u64map by_stack;	/* stack id -> index into accs */
	struct stack_acc *accs;
	size_t n_accs, cap_accs;
};

static int write_leaks(struct telemetry *t);

struct telemetry *telemetry__new(const struct telemetry_opts *o)
{
	struct telemetry *t = calloc(1, sizeof(*t));
	char path[4200];
	int err;

	if (!t)
		return NULL;
	t->o = *o;
	err = otlp_resource__build(&t->res, o->otel, o->pid, o->exe_path);
	if (err)
		goto fail;
	if (o->exp && o->otel && otel_config__enabled(o->otel, OTLP_METRICS)) {
		t->exp = o->exp;
	} else {
		snprintf(path, sizeof(path), "%s/metrics.jsonl", o->outdir);
		t->jsonl = fopen(path, "we");
		if (!t->jsonl) {
			err = -errno;
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
	size_t i;

	if (!t)
		return;
	if (t->jsonl)
		fclose(t->jsonl);
	if (t->have_last)
		mm_snapshot__free(&t->last);
	otlp_resource__free(&t->res);
	for (i = 0; i < t->cap_accs; i++) {
		free(t->accs[i].sizes);
		free(t->accs[i].weights);
	}
	free(t->accs);
	u64map__free(&t->by_stack);
	free(t);
}

/* The allocating function of a stack: the innermost frame at its leaf. */
static const char *component(struct telemetry *t, uint32_t stack_id,
			     char *buf, size_t len)
{
	const struct sym_result *r;
	struct stack_view v;

	if (!stacks__get(t->o.stacks, stack_id, &v) || !v.n)
		return "unknown";
	r = symcache__get(t->o.syms, v.pid, v.pcs[0], !v.leaf_exact);
	if (r->n_frames && r->frames[0].function) {
		snprintf(buf, len, "%s", r->frames[0].function);
		return buf;
	}
	snprintf(buf, len, "0x%llx", (unsigned long long)v.pcs[0]);
	return buf;
}

static int collect_block(const struct heap_block *b, void *ctx)
{
	struct telemetry *t = ctx;
	struct stack_acc *a;
	uint64_t *hit;

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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The window itself: the model, then the export. */
static int window(struct telemetry *t, double t_unix)
{
	struct heap_totals tot;
	struct proc_mem proc;
	uint64_t now = mono_ns();
	uint8_t *buf = NULL;
	char name[256];
	size_t i, len;
	int err;

	u64map__free(&t->by_stack);
	t->n_accs = 0;
	if (t->o.heap) {
		err = heapstate__foreach_live(t->o.heap, collect_block, t);
		if (err)
			return err;
	}
	for (i = 0; i < t->n_accs; i++) {
		struct stack_acc *a = &t->accs[i];
		double age = now > a->oldest_ns ?
			(double)(now - a->oldest_ns) / 1e9 : 0;

		err = memmetrics__window_stack(t->o.mm, a->stack_id,
					       component(t, a->stack_id, name,
							 sizeof(name)),
					       a->bytes, a->objects, age,
					       a->sizes, a->weights, a->n);
		if (err)
			return err;
	}
	memset(&tot, 0, sizeof(tot));
	if (t->o.heap)
		heapstate__totals(t->o.heap, &tot);
	err = procstat__read_mem(t->o.pid, &proc);
	err = memmetrics__end_window(t->o.mm, t_unix, err ? NULL : &proc,
				     tot.inuse_bytes);
	if (err)
		return err;
	if (t->have_last)
		mm_snapshot__free(&t->last);
	t->have_last = false;
	err = memmetrics__snapshot(t->o.mm, &t->last);
	if (err)
		return err;
	t->have_last = true;
	t->windows++;

	if (t->exp) {
		err = otlp_metrics__encode(&t->last, &t->res, &buf, &len);
		if (err)
			return err;
		/* the queue owns buf from here; never blocks */
		return otlp_exporter__enqueue(t->exp, OTLP_METRICS, buf, len);
	}
	err = otlp_metrics__write_json(&t->last, &t->res, t->jsonl);
	fputc('\n', t->jsonl);
	if (fflush(t->jsonl))
		err = -errno;
	return err;
}

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
		else if (x->freed_windows <= 2)
			/* a launched target's last two windows are taken as
			 * it exits and as the session ends */
			snprintf(state, sizeof(state), "freed at exit");
		else
			snprintf(state, sizeof(state), "freed %.0f s before the end",
				 s->time_s - x->freed_s);
		fprintf(out, "  [%s] %s: %.0f bytes live in %.0f blocks, growing %.2f MB/h, oldest %.0f s, %s\n",
			memmetrics__severity_name(x->peak_severity),
			x->component, x->last_bytes, x->last_objects,
			x->peak_growth_mb_h, x->last_age_s, state);
		if (!stacks__get(t->o.stacks, x->stack_id, &v))
			continue;
		for (k = 0; k < v.n && (int)k < max_frames; k++) {
			const struct sym_result *r = symcache__get(
				t->o.syms, v.pid, v.pcs[k],
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

static int emit_leaks(FILE *f, void *ctx)
{
	print_suspects(ctx, f, 64);
	return 0;
}

/* DIR/leaks.txt as of the last window, replaced whole (util/fileio.h). */
static int write_leaks(struct telemetry *t)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/leaks.txt", t->o.outdir);
	return outfile__write(path, emit_leaks, t);
}

int telemetry__finish(struct telemetry *t, double t_unix)
{
	/* the window rewrites leaks.txt */
	return telemetry__window(t, t_unix);
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
	} else {
		fprintf(out, "metrics: %s/metrics.jsonl (%llu windows)\n",
			t->o.outdir, (unsigned long long)t->windows);
	}
}
