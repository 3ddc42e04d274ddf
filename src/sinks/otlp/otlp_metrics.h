/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_metrics.h - a memory-metrics snapshot as an OTLP
 * ExportMetricsServiceRequest: protobuf (for OTLP/HTTP and gRPC) or one
 * line of OTLP/JSON (the collector file exporter's format) for
 * DIR/metrics.jsonl when no collector is configured.
 */
#ifndef MEMTEL_OTLP_METRICS_H
#define MEMTEL_OTLP_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/memmetrics.h"
#include "sinks/otlp/otlp_resource.h"

/* Serialized request into a malloc'ed *buf. 0 or -ENOMEM. */
int otlp_metrics__encode(const struct mm_snapshot *s,
			 const struct otlp_resource *r, uint8_t **buf,
			 size_t *len);
/* One JSON object (no newline) to f. 0 or -EIO. */
int otlp_metrics__write_json(const struct mm_snapshot *s,
			     const struct otlp_resource *r, FILE *f);

#endif /* MEMTEL_OTLP_METRICS_H */
