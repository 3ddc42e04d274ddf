// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * otlp_resource.c - resource attributes per the OpenTelemetry semantic
 * conventions (service, host, process, container, telemetry.sdk). The SDK
 * name is ours, not "opentelemetry": we are not the OpenTelemetry SDK.
 * The executable's name and path are the target's choice, so every value
 * is stored as valid UTF-8 (invalid bytes replaced by U+FFFD).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process/cgroup.h"
#include "sinks/otlp/otlp_resource.h"
#include "util/utf8.h"

static int add(struct otlp_resource *r, const char *key, const char *str,
	       int64_t num)
{
	struct otlp_attr *n;
	const char *valid = NULL;
	char *copy = NULL;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->attrs[i].key, key))
			return 0;	/* first one wins */
	n = realloc(r->attrs, (r->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	r->attrs = n;
	n = &r->attrs[r->n];
	if (str && !(valid = utf8__sanitize(str, &copy)))
		return -ENOMEM;
	n->key = strdup(key);
	n->str = valid ? strdup(valid) : NULL;
	free(copy);
	n->num = num;
	if (!n->key || (str && !n->str)) {
		free(n->key);
		free(n->str);
		return -ENOMEM;
	}
	r->n++;
	return 0;
}

int otlp_resource__build(struct otlp_resource *r, const struct otel_config *c,
			 pid_t pid, const char *exe_path)
{
	const char *exe = exe_path ? strrchr(exe_path, '/') : NULL;
	struct cgroup_ids ids;
	char host[256] = "", svc[300];
	size_t i;
	int err = 0;

	memset(r, 0, sizeof(*r));
	exe = exe ? exe + 1 : (exe_path ? exe_path : "");
	if (c && c->service_name)
		snprintf(svc, sizeof(svc), "%s", c->service_name);
	else if (*exe)
		snprintf(svc, sizeof(svc), "unknown_service:%s", exe);
	else
		snprintf(svc, sizeof(svc), "unknown_service:memtel-bpf");
	err |= add(r, "service.name", svc, 0);
	if (!gethostname(host, sizeof(host) - 1) && host[0])
		err |= add(r, "host.name", host, 0);
	if (pid > 0) {
		err |= add(r, "process.pid", NULL, pid);
		if (*exe)
			err |= add(r, "process.executable.name", exe, 0);
		if (exe_path && *exe_path)
			err |= add(r, "process.executable.path", exe_path, 0);
		/* the v2 cgroup path names the container and the pod */
		if (!cgroup__ids(pid, &ids)) {
			if (ids.container_id[0])
				err |= add(r, "container.id", ids.container_id, 0);
			if (ids.pod_uid[0])
				err |= add(r, "k8s.pod.uid", ids.pod_uid, 0);
		}
	}
	err |= add(r, "telemetry.sdk.name", "memtel-bpf", 0);
	err |= add(r, "telemetry.sdk.language", "c", 0);
	err |= add(r, "telemetry.sdk.version", MEMTEL_VERSION, 0);
	for (i = 0; c && i < c->n_resource_attrs; i++)
		err |= add(r, c->resource_attrs[i].key,
			   c->resource_attrs[i].value, 0);
	if (err) {
		otlp_resource__free(r);
		return -ENOMEM;
	}
	return 0;
}

void otlp_resource__free(struct otlp_resource *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->attrs[i].key);
		free(r->attrs[i].str);
	}
	free(r->attrs);
	r->attrs = NULL;
	r->n = 0;
}

const char *otlp_resource__get(const struct otlp_resource *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!strcmp(r->attrs[i].key, key))
			return r->attrs[i].str;
	return NULL;
}
