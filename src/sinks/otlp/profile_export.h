/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * profile_export.h - the OTLP profiles sink: every export interval (and at
 * exit) the CPU samples and heap allocations since the previous export,
 * and the heap in use now, go out as one ExportProfilesServiceRequest per
 * window: six profiles per process (CPU samples and nanoseconds; heap
 * alloc_objects, alloc_space, inuse_objects, inuse_space), batched.
 */
#ifndef MEMTEL_PROFILE_EXPORT_H
#define MEMTEL_PROFILE_EXPORT_H

#include <stdint.h>
#include <sys/types.h>

#include "model/cpustate.h"
#include "model/heapstate.h"
#include "sinks/otlp/otel_config.h"
#include "sinks/otlp/otlp_export.h"
#include "model/stacks.h"
#include "symbolize/symcache.h"
#include "process/targets.h"

struct profile_export;

struct profile_export_opts {
	struct otlp_exporter *exp;
	const struct otel_config *otel;
	struct stacks *stacks;
	struct symcache *syms;
	struct targets *targets;
	struct heapstate *heap;		/* NULL: no heap profiles */
	struct cpustate *cpu;		/* NULL: no CPU profiles */
	pid_t pid;			/* the session's target, 0 with --all */
	uint32_t freq;			/* CPU sampling Hz */
	uint64_t sample_bytes;		/* heap sampling mean */
	uint64_t start_unix_ns;
};

struct profile_export *profile_export__new(const struct profile_export_opts *o);
/* Build and queue this window's request (never blocks). 0 or -errno. */
int profile_export__window(struct profile_export *pe, uint64_t now_unix_ns);
/* Requests queued so far. */
uint64_t profile_export__requests(const struct profile_export *pe);
void profile_export__free(struct profile_export *pe);

#endif /* MEMTEL_PROFILE_EXPORT_H */
