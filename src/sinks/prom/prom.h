/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * prom.h - Prometheus text exposition format 0.0.4 of metric points: the
 * node agent's /metrics. Names are converted the way the OpenTelemetry
 * Collector's prometheus exporter converts OTLP names (default settings:
 * unit suffixes, _total, _ratio; see docs/ARCHITECTURE.md), so a dashboard
 * works the same on our endpoint and behind a Collector. Resource
 * attributes (container.id, k8s.pod.uid, ...) become labels on every
 * sample, as the exporter's resource_to_telemetry_conversion does.
 *
 * A writer emits each family (HELP, TYPE, samples) once: the format wants
 * every line of a metric in one group, so several processes' snapshots are
 * written together by prom_writer__snapshots().
 */
#ifndef MEMTEL_SINKS_PROM_H
#define MEMTEL_SINKS_PROM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/memmetrics.h"

#define PROM_NAME_MAX	256	/* longer converted names are refused */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type {
	PROM_GAUGE,
	PROM_COUNTER,		/* an OTLP monotonic sum */
	PROM_HISTOGRAM,
};

struct prom_label {
	const char *key;	/* OTLP attribute key; sanitized on output */
	const char *value;	/* any bytes; escaped (invalid UTF-8 replaced) */
};

/* The Prometheus name of an OTLP metric (name, UCUM unit, type) into out.
 * 0, -EINVAL (nothing left of the name) or -ENAMETOOLONG. */
int prom__metric_name(const char *name, const char *unit, enum prom_type type,
		      char *out, size_t size);
/* A label name as the exporter writes an attribute key. 0, -EINVAL (empty)
 * or -ENAMETOOLONG. */
int prom__label_name(const char *key, char *out, size_t size);

struct prom_writer;

/* A writer to f (the caller's; open_memstream for a buffer). NULL and errno
 * on failure. */
struct prom_writer *prom_writer__new(FILE *f);
/* NULL-safe. Does not close f. */
void prom_writer__free(struct prom_writer *w);
/* Start a family: its HELP and TYPE lines. -EEXIST if the converted name
 * was already written (the format allows one group per name), -EINVAL,
 * -ENAMETOOLONG; 0 otherwise. */
int prom_writer__family(struct prom_writer *w, const char *name,
			const char *unit, enum prom_type type,
			const char *help);
/* A gauge or counter sample of the current family, with labels then extra
 * labels (a name repeated after sanitizing keeps its first value). 0,
 * -EINVAL (no family, or a histogram family). */
int prom_writer__sample(struct prom_writer *w, const struct prom_label *labels,
			size_t n, const struct prom_label *extra,
			size_t n_extra, double value);
/* A histogram sample of the current family: counts[i] counts values in
 * (bounds[i-1], bounds[i]], counts[n_bounds] the rest (OTLP explicit
 * buckets); written as cumulative _bucket{le=...} lines, +Inf, _sum and
 * _count. 0 or -EINVAL. */
int prom_writer__histogram(struct prom_writer *w,
			   const struct prom_label *labels, size_t n,
			   const struct prom_label *extra, size_t n_extra,
			   const double *bounds, size_t n_bounds,
			   const uint64_t *counts, double sum);
/* Every point of n snapshots, snaps[i]'s samples labelled with
 * extra[i][0..n_extra[i]) (extra and n_extra may be NULL), one family per
 * metric name in order of first appearance. 0 or the first -errno. */
int prom_writer__snapshots(struct prom_writer *w,
			   const struct mm_snapshot *const *snaps,
			   const struct prom_label *const *extra,
			   const size_t *n_extra, size_t n);
/* Flush f: 0, or -EIO if any write failed. */
int prom_writer__finish(struct prom_writer *w);

#endif /* MEMTEL_SINKS_PROM_H */
