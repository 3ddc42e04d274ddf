/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sitestats.h - per-site allocation totals a workload knows it makes, and
 * their JSON form ({"mode": ..., "sites": {name: {alloc_objects, ...}}}),
 * the ground truth tests/lib/pprof_raw.py check-exact compares a heap
 * profile with. Header-only so that C workloads and the C++ one the tests
 * build with g++ alone share it.
 */
#ifndef MEMTEL_WL_SITESTATS_H
#define MEMTEL_WL_SITESTATS_H

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

struct site_stats {
	const char *name;	/* the site function, the profile's leaf */
	uint64_t alloc_objects, alloc_space, inuse_objects, inuse_space;
};

/* n allocations of size bytes at site s; kept: still in use at the end. */
static inline void site_account(struct site_stats *s, uint64_t n,
				uint64_t size, bool kept)
{
	s->alloc_objects += n;
	s->alloc_space += n * size;
	if (kept) {
		s->inuse_objects += n;
		s->inuse_space += n * size;
	}
}

/* One JSON line on stdout, sites with no allocation left out. */
static inline void site_print_json(const char *mode,
				   const struct site_stats *st, size_t n)
{
	size_t i;
	int first = 1;

	printf("{\"mode\": \"%s\", \"sites\": {", mode);
	for (i = 0; i < n; i++) {
		if (!st[i].alloc_objects)
			continue;
		printf("%s\"%s\": {\"alloc_objects\": %" PRIu64
		       ", \"alloc_space\": %" PRIu64
		       ", \"inuse_objects\": %" PRIu64
		       ", \"inuse_space\": %" PRIu64 "}",
		       first ? "" : ", ", st[i].name, st[i].alloc_objects,
		       st[i].alloc_space, st[i].inuse_objects,
		       st[i].inuse_space);
		first = 0;
	}
	printf("}}\n");
	fflush(stdout);
}

/* --wait-signal: print "ready PID" and wait for SIGUSR1 (blocked before
 * the announcement, so none is missed), for tests that attach by pid.
 * 0, or -1 if waiting failed. */
static inline int site_wait_signal(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	return sigwait(&set, &sig) ? -1 : 0;
}

#endif /* MEMTEL_WL_SITESTATS_H */
