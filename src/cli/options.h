/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * options.h - the command line: one defaults-initialized struct filled by
 * getopt_long. The parser never exits the process, so the session, the
 * unit tests and the fuzz harness all call the same code.
 */
#ifndef MEMTEL_CLI_OPTIONS_H
#define MEMTEL_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

#define OPTIONS_MAX_HEADERS	32
#define OPTIONS_MAX_PIDS	64	/* --pid list (before --children) */
/* Upper bounds of numeric options (see --help): beyond them the BPF
 * sampler's arithmetic and the session's deadline would overflow. */
#define OPTIONS_MAX_SAMPLE_BYTES (1ULL << 40)	/* 1 TiB */
#define OPTIONS_MAX_DURATION_S	31536000.0	/* 365 days */
/* --max-overhead when none is given: percent of estimated slowdown. */
#define OPTIONS_DEFAULT_MAX_OVERHEAD 5.0

struct options {
	pid_t pid;		/* the first of pids[], or 0 */
	pid_t pids[OPTIONS_MAX_PIDS];	/* every --pid, in order, no repeats */
	int n_pids;
	bool children;		/* --children: descendants of the pids too */
	double duration;	/* seconds, 0 = until exit/signal */
	const char *outdir;
	uint64_t sample_bytes;
	uint32_t stack_bytes;
	uint32_t freq;		/* CPU sampling frequency, Hz */
	bool all;		/* CPU: every process on the host */
	bool no_kernel;
	bool no_cpu;
	bool no_heap;
	bool verbose;
	double export_interval;	/* seconds; 0 = config/env default */
	double leak_age;	/* seconds */
	/* --max-overhead: heap-probe budget in percent of the target's
	 * estimated slowdown, 0 = unlimited; negative until given (then
	 * options__max_overhead() picks the default) */
	double max_overhead;
	const char *otlp_endpoint;
	const char *otlp_headers[OPTIONS_MAX_HEADERS];
	int n_otlp_headers;
	int otlp_timeout_ms;
	const char *otlp_compression;
	const char *otlp_protocol;
	const char *service_name;
	char **command;		/* argv after "--", or NULL */
	bool sampler;		/* --sampler: preload libmemtel-sampler.so */
};

/* The defaults, before any option. */
void options__init(struct options *o);
/* Parse argv into o (which options__init prepared). 0: run a session;
 * 1: --help or --version was printed (exit 0); -EINVAL: a usage error,
 * its one line already on stderr (exit EXIT_USAGE). Restartable (it resets
 * getopt's state); o points into argv. */
int options__parse(struct options *o, int argc, char **argv);
/* The heap-probe budget in percent: --max-overhead as given, else 0
 * with --sample-bytes 1 (every allocation was asked for), else
 * OPTIONS_DEFAULT_MAX_OVERHEAD. */
double options__max_overhead(const struct options *o);
/* Send usage errors to f instead of stderr (NULL: stderr again). */
void options__set_error_stream(FILE *f);

#endif /* MEMTEL_CLI_OPTIONS_H */
