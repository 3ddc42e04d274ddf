/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cgroup.h - a process's cgroup v2 path and the container and pod it names.
 * The node agent labels every process with `container.id` and `k8s.pod.uid`
 * so the Collector's k8sattributes processor can add pod names and labels;
 * both come from the directory names kubelet (cgroupfs and systemd drivers),
 * containerd, CRI-O and Docker give a container's cgroup. Parsers take text
 * (tests and fuzzers feed them directly); readers go through
 * fileio__read_text with a size bound, since /proc shows what a process and
 * whoever manages its cgroup chose.
 */
#ifndef MEMTEL_PROCESS_CGROUP_H
#define MEMTEL_PROCESS_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#define CGROUP_ID_LEN		64	/* container ids: 64 lowercase hex digits */
#define CGROUP_UID_LEN		36	/* pod uids: 8-4-4-4-12 hex with dashes */
#define CGROUP_PATH_MAX		4096	/* longer cgroup paths are refused */
#define CGROUP_MAX_FILE		(64 * 1024)	/* /proc/PID/cgroup read bound */
#define CGROUP_MAX_MOUNTS	(4 * 1024 * 1024)	/* /proc/PID/mounts bound */

/* What a cgroup path says about its process; "" for what it does not say. */
struct cgroup_ids {
	char container_id[CGROUP_ID_LEN + 1];
	char pod_uid[CGROUP_UID_LEN + 1];
};

/* The cgroup2 mount point in /proc/PID/mounts text of len bytes (octal
 * escapes such as \040 decoded) into out. 0, -ENOENT (no cgroup2 mount),
 * -ENAMETOOLONG (does not fit size) or -EINVAL. */
int cgroup__parse_mounts(const char *text, size_t len, char *out, size_t size);
/* Where cgroup v2 is mounted as pid sees it (0: this process). 0 or -errno. */
int cgroup__find_mount(pid_t pid, char *out, size_t size);

/* The path on the "0::" line of /proc/PID/cgroup text of len bytes into out.
 * 0, -ENOENT (no v2 line), -ENAMETOOLONG (longer than size - 1 or than
 * CGROUP_PATH_MAX), -EINVAL (a NUL inside the line, a relative path). */
int cgroup__parse_proc(const char *text, size_t len, char *out, size_t size);
/* Read pid's cgroup v2 path. 0 or -errno (-ESRCH if it is gone). */
int cgroup__read_path(pid_t pid, char *out, size_t size);

/* The container id and pod uid a cgroup v2 path names (either may be "").
 * 0, or -EINVAL for NULL arguments. */
int cgroup__parse_path(const char *path, struct cgroup_ids *out);
/* cgroup__read_path + cgroup__parse_path. 0 or -errno. */
int cgroup__ids(pid_t pid, struct cgroup_ids *out);

#endif /* MEMTEL_PROCESS_CGROUP_H */
