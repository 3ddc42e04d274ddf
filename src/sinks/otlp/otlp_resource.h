/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * otlp_resource.h - the OTLP Resource describing the profiled process, and
 * the instrumentation scope, shared by the metrics and profiles encoders.
 */
#ifndef MEMTEL_OTLP_RESOURCE_H
#define MEMTEL_OTLP_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sinks/otlp/otel_config.h"

struct otlp_attr {
	char *key;
	char *str;		/* string value, or NULL for an int */
	int64_t num;
};

struct otlp_resource {
	struct otlp_attr *attrs;
	size_t n;
};

#define OTLP_SCOPE_NAME "memtel-bpf"

/* service.name (CLI/env, else "unknown_service:<exe>"), host.name,
 * process.pid, process.executable.name, process.executable.path,
 * container.id and k8s.pod.uid (from its cgroup v2 path, process/cgroup.h,
 * when it runs in a container or pod), telemetry.sdk.{name,language,
 * version}, then the
 * OTEL_RESOURCE_ATTRIBUTES entries (service.version, deployment...).
 * pid 0 (a whole-host session) leaves out the process attributes.
 * 0 or -ENOMEM. */
int otlp_resource__build(struct otlp_resource *r, const struct otel_config *c,
			 pid_t pid, const char *exe_path);
void otlp_resource__free(struct otlp_resource *r);
/* The attribute's string value, or NULL. */
const char *otlp_resource__get(const struct otlp_resource *r, const char *key);

#endif /* MEMTEL_OTLP_RESOURCE_H */
