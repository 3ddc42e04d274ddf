/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * session_parts.h - the steps of a session that the node agent (agent.c)
 * runs too, so that both load the same BPF, build the same models and read
 * the OTEL_* configuration the same way. Each returns 0 or the process exit
 * status (EXIT_USAGE, EXIT_RUNTIME) after printing the one-line reason.
 */
#ifndef MEMTEL_CLI_SESSION_PARTS_H
#define MEMTEL_CLI_SESSION_PARTS_H

#include "attach/allocator.h"
#include "cli/session.h"

/* Logging (-v shows libbpf's messages), line-buffered stdout, and
 * SIGINT/SIGTERM noted for session__stopping() (SIGPIPE ignored). */
void session__setup_process(bool verbose);
/* Has SIGINT or SIGTERM arrived? */
bool session__stopping(void);
/* OTEL_* environment, then the options over it, into c. */
int session__load_otel(const struct options *o, struct otel_config *c);
/* Output directory, BTF and privileges, before anything is attached. */
int session__check(struct session *s);
/* Kernel symbols, symbol cache, targets, stacks, models, collector. */
int session__build(struct session *s);
/* The OTLP exporter and the profiles sink, when an endpoint is set. */
int session__start_otlp(struct session *s);
/* Load BPF; attach heap probes (s->heap) and the CPU sampler (s->cpu). */
int session__attach(struct session *s, struct allocator *a,
		    const struct probe_point *pts, size_t n_pts);
/* Release everything s holds (NULL members skipped). */
void session__free(struct session *s);

#endif /* MEMTEL_CLI_SESSION_PARTS_H */
