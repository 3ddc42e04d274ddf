/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_profiles.h - build an OTLP ExportProfilesServiceRequest in the
 * layout of opentelemetry-proto v1.11.0 (profiles/v1development): one
 * ResourceProfiles per process, one Profile per sample type, and a
 * request-level ProfilesDictionary (the profile dictionary pprof files use
 * too, sinks/profile/profdict.h) whose tables all start with the zero
 * value. Samples with the same {stack, attributes, link} are merged, and
 * every sample has the same shape: one value, no timestamps.
 */
#ifndef MEMTEL_OTLP_PROFILES_H
#define MEMTEL_OTLP_PROFILES_H

#include <stddef.h>
#include <stdint.h>

#include "sinks/otlp/otlp_resource.h"
#include "model/stacks.h"
#include "symbolize/symcache.h"

struct otlp_profiles;

struct otlp_profile_desc {
	const char *type, *unit;		/* sample type */
	const char *period_type, *period_unit;
	int64_t period;
	/* the window; a live-heap snapshot: process start, time since */
	uint64_t time_unix_nano, duration_nano;
};

struct otlp_profiles *otlp_profiles__new(struct stacks *st,
					 struct symcache *sc);
void otlp_profiles__free(struct otlp_profiles *b);
/* Start a profile of process pid (described by res, which must outlive
 * the builder) with one sample type. 0 or -ENOMEM. */
int otlp_profiles__begin(struct otlp_profiles *b, uint32_t pid,
			 const struct otlp_resource *res,
			 const struct otlp_profile_desc *d);
/* Add value to the current profile's sample of stack_id (and, when
 * tid != 0, the thread.id / thread.name attributes): a second call with
 * the same identity adds to the first. 0 or -errno. */
int otlp_profiles__sample(struct otlp_profiles *b, uint32_t stack_id,
			  int64_t value, uint32_t tid, const char *thread_name);
/* The same for in-use heap of stack_id allocated before its process's
 * probes paused (overhead budget), with memtel.unverified=true. */
int otlp_profiles__sample_unverified(struct otlp_profiles *b,
				     uint32_t stack_id, int64_t value);
/* Profiles begun so far. */
size_t otlp_profiles__count(const struct otlp_profiles *b);
/* Serialize the request into a malloc'ed *buf. 0 or -ENOMEM. */
int otlp_profiles__encode(struct otlp_profiles *b, uint8_t **buf,
			  size_t *len);

#endif /* MEMTEL_OTLP_PROFILES_H */
