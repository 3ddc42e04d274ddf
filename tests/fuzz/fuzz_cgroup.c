// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_cgroup.c - /proc/PID/cgroup and /proc/PID/mounts text as a container
 * manager (or a process with a delegated cgroup subtree) could make it
 * look. The first byte picks the parser; none may crash, and what they
 * accept must be consistent: a path starts with '/', ids have their exact
 * shape (64 lowercase hex digits; 8-4-4-4-12 with dashes).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/cgroup.h"

static void check_ids(const char *path)
{
	struct cgroup_ids ids;
	size_t i, n;

	if (cgroup__parse_path(path, &ids))
		return;
	n = strlen(ids.container_id);
	if (n && n != CGROUP_ID_LEN)
		abort();
	for (i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", ids.container_id[i]))
			abort();
	n = strlen(ids.pod_uid);
	if (n && n != CGROUP_UID_LEN)
		abort();
	for (i = 0; i < n; i++)
		if ((i == 8 || i == 13 || i == 18 || i == 23) ?
		    ids.pod_uid[i] != '-' :
		    !strchr("0123456789abcdef", ids.pod_uid[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[CGROUP_PATH_MAX + 1], *text;

	if (!size)
		return 0;
	/* not NUL-terminated on purpose: the parsers take a length */
	text = malloc(size - 1 ? size - 1 : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		if (cgroup__parse_proc(text, size - 1, out, sizeof(out)) == 0) {
			if (out[0] != '/' || strlen(out) > CGROUP_PATH_MAX)
				abort();
			check_ids(out);
		}
		break;
	case 1:
		if (cgroup__parse_mounts(text, size - 1, out, sizeof(out)) == 0 &&
		    out[0] != '/')
			abort();
		break;
	default:
		if (size - 1 <= CGROUP_PATH_MAX) {
			memcpy(out, text, size - 1);
			out[size - 1] = '\0';
			check_ids(out);
		}
		break;
	}
	free(text);
	return 0;
}
