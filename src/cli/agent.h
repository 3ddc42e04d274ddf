/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * agent.h - `memtel-bpf agent`: the node agent. CPU profiles of every
 * process, memory gauges of the largest ones and the agent's own figures,
 * each export interval, to OTLP (or pprof files in -o DIR) and to an HTTP
 * endpoint (/metrics, /healthz, /readyz), until SIGTERM or SIGINT.
 */
#ifndef MEMTEL_CLI_AGENT_H
#define MEMTEL_CLI_AGENT_H

#include "cli/options.h"
#include "process/selector.h"

#define AGENT_MAX_CONFIG	(64 * 1024)	/* --config FILE read bound */
#define AGENT_DEFAULT_TOP	50	/* processes with their own gauges */
#define AGENT_DEFAULT_KEEP	60	/* cpu-*.pb.gz files kept in -o DIR */
#define AGENT_DEFAULT_HEAP_TARGETS 16	/* processes with heap probes at once */
#define AGENT_MAX_HEAP_TARGETS	1024	/* the BPF target set (MT_MAX_TARGETS) */

struct agent_options {
	struct options base;	/* what the session's steps read */
	const char *listen;	/* NULL: HTTP_DEFAULT_LISTEN */
	const char *config;
	unsigned int max_processes;
	unsigned int keep_files;
	/* --heap-target selectors (NULL: none) and the bound on the
	 * processes they give heap probes at once */
	struct selector_set *heap_targets;
	unsigned int max_heap_targets;
	char *config_text;	/* owns the strings config values point to */
};

/* Defaults: every process, CPU only, 99 Hz. */
void agent_options__init(struct agent_options *ao);
void agent_options__free(struct agent_options *ao);
/* argv after "agent" (argv[0] is "agent"), over the --config file's lines
 * over the defaults. 0: run; 1: --help was printed; -EINVAL: a usage
 * error, its line already on stderr. */
int agent_options__parse(struct agent_options *ao, int argc, char **argv);
/* Run the agent; the process exit status. */
int agent__run(struct agent_options *ao);
/* main.c's entry: argv[0] is "agent". */
int agent__main(int argc, char **argv);

#endif /* MEMTEL_CLI_AGENT_H */
