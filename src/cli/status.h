/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * status.h - the live status line a session shows on a terminal: what the
 * probes have seen so far, refreshed about once a second on stderr.
 */
#ifndef MEMTEL_CLI_STATUS_H
#define MEMTEL_CLI_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATUS_REFRESH_NS 1000000000ULL

struct status_figures {
	double elapsed_s;
	uint64_t processes;
	bool heap, cpu;		/* which parts to show */
	uint64_t calls, sampled;	/* allocation calls */
	double live_bytes;
	uint64_t cpu_samples;
	uint64_t dropped;
	/* overhead budget: processes whose heap probes are paused now, and
	 * the share of the time they were on (shown once one paused) */
	uint64_t paused;
	bool partial;
	double on_fraction;
};

/* The status line for f into buf, cut to width columns (0: no limit).
 * Returns buf. */
const char *status__format(const struct status_figures *f, size_t width,
			   char *buf, size_t len);

#endif /* MEMTEL_CLI_STATUS_H */
