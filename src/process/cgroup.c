// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cgroup.c - cgroup v2 mount point, a process's cgroup v2 path and the
 * container id and pod uid in it. The names parsed (see cgroup.h and
 * docs/ARCHITECTURE.md, "Node agent: building blocks"):
 *   kubelet, cgroupfs driver: /kubepods[/burstable|/besteffort]/pod<uid>/<id>
 *   kubelet, systemd driver:  /kubepods.slice/kubepods-burstable.slice/
 *       kubepods-burstable-pod<uid, '-' as '_'>.slice/cri-containerd-<id>.scope
 *       (or crio-<id>.scope, docker-<id>.scope)
 *   outside Kubernetes: /system.slice/docker-<id>.scope, /docker/<id>,
 *       libpod-<id>.scope (podman), <namespace>/<id> (containerd's cgroupfs)
 * All text is length-bounded and NUL-checked: it is not ours.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "process/cgroup.h"
#include "util/fileio.h"

/* A path component: not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static bool span_prefix(struct span s, const char *pfx)
{
	size_t n = strlen(pfx);

	return s.n >= n && !memcmp(s.p, pfx, n);
}

static bool span_suffix(struct span s, const char *sfx)
{
	size_t n = strlen(sfx);

	return s.n >= n && !memcmp(s.p + s.n - n, sfx, n);
}

static bool span_contains(struct span s, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= s.n; i++)
		if (!memcmp(s.p + i, needle, n))
			return true;
	return false;
}

static bool is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* One line of text starting at *pos (up to '\n' or the end); false at the
 * end. A line holding a NUL is reported with *nul set. */
static bool next_line(const char *text, size_t len, size_t *pos,
		      struct span *line, bool *nul)
{
	const char *nl;

	if (*pos >= len)
		return false;
	line->p = text + *pos;
	nl = memchr(line->p, '\n', len - *pos);
	line->n = nl ? (size_t)(nl - line->p) : len - *pos;
	*pos += line->n + 1;
	*nul = memchr(line->p, '\0', line->n) != NULL;
	return true;
}

/* Field i (0-based) of a space-separated line. */
static bool line_field(struct span line, int i, struct span *f)
{
	size_t k = 0;

	for (;;) {
		while (k < line.n && line.p[k] == ' ')
			k++;
		if (k == line.n)
			return false;
		f->p = line.p + k;
		while (k < line.n && line.p[k] != ' ')
			k++;
		f->n = (size_t)(line.p + k - f->p);
		if (i-- == 0)
			return true;
	}
}

/* The kernel writes space, tab, newline and backslash in mount points as
 * \ooo (fs/proc_namespace.c, mangle()). */
static int unescape_mount(struct span f, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; i < f.n; i++) {
		char c = f.p[i];

		if (c == '\\' && i + 3 < f.n &&
		    f.p[i + 1] >= '0' && f.p[i + 1] <= '3' &&
		    f.p[i + 2] >= '0' && f.p[i + 2] <= '7' &&
		    f.p[i + 3] >= '0' && f.p[i + 3] <= '7') {
			c = (char)((f.p[i + 1] - '0') * 64 +
				   (f.p[i + 2] - '0') * 8 + (f.p[i + 3] - '0'));
			i += 3;
		}
		if (c == '\0')
			return -EINVAL;
		if (o + 1 >= size)
			return -ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

int cgroup__parse_mounts(const char *text, size_t len, char *out, size_t size)
{
	struct span line, mnt, type;
	size_t pos = 0;
	bool nul;

	if (!text || !out || !size)
		return -EINVAL;
	while (next_line(text, len, &pos, &line, &nul)) {
		if (nul || !line_field(line, 1, &mnt) ||
		    !line_field(line, 2, &type))
			continue;
		if (type.n != 7 || memcmp(type.p, "cgroup2", 7) || mnt.p[0] != '/')
			continue;
		return unescape_mount(mnt, out, size);
	}
	return -ENOENT;
}

/* fileio__read_text(path) with max, then parse(text, len, out, size). */
static int read_parse(const char *path, size_t max,
		      int (*parse)(const char *, size_t, char *, size_t),
		      char *out, size_t size)
{
	char *text = NULL;
	size_t len;
	int err;

	err = fileio__read_text(path, 0, max, &text, &len);
	if (err)
		return err;
	err = parse(text, len, out, size);
	free(text);
	return err;
}

int cgroup__find_mount(pid_t pid, char *out, size_t size)
{
	char path[64];

	if (pid > 0)
		snprintf(path, sizeof(path), "/proc/%d/mounts", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/mounts");
	return read_parse(path, CGROUP_MAX_MOUNTS, cgroup__parse_mounts, out, size);
}

int cgroup__parse_proc(const char *text, size_t len, char *out, size_t size)
{
	struct span line;
	size_t pos = 0, n;
	bool nul;

	if (!text || !out || !size)
		return -EINVAL;
	while (next_line(text, len, &pos, &line, &nul)) {
		/* v2 is hierarchy 0 with no controllers: "0::PATH" */
		if (line.n < 3 || memcmp(line.p, "0::", 3))
			continue;
		if (nul)
			return -EINVAL;
		n = line.n - 3;
		if (n > CGROUP_PATH_MAX || n + 1 > size)
			return -ENAMETOOLONG;
		if (!n || line.p[3] != '/')
			return -EINVAL;
		memcpy(out, line.p + 3, n);
		out[n] = '\0';
		return 0;
	}
	return -ENOENT;
}

int cgroup__read_path(pid_t pid, char *out, size_t size)
{
	char path[64];

	if (pid <= 0)
		return -EINVAL;
	/* the target (or its container manager) chose the path: bounded */
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	return read_parse(path, CGROUP_MAX_FILE, cgroup__parse_proc, out, size);
}

/* <64 lowercase hex> after a runtime's prefix, before ".scope". */
static bool container_id(struct span c, char out[CGROUP_ID_LEN + 1])
{
	static const char *const prefixes[] = {
		"cri-containerd-", "crio-", "docker-", "libpod-",
		"containerd-",
	};
	size_t i;

	if (span_suffix(c, ".scope"))
		c.n -= strlen(".scope");
	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (span_prefix(c, prefixes[i])) {
			c.p += strlen(prefixes[i]);
			c.n -= strlen(prefixes[i]);
			break;
		}
	}
	if (c.n != CGROUP_ID_LEN)
		return false;
	for (i = 0; i < c.n; i++)
		if (!is_lhex(c.p[i]))
			return false;
	memcpy(out, c.p, CGROUP_ID_LEN);
	out[CGROUP_ID_LEN] = '\0';
	return true;
}

/* 8-4-4-4-12 lowercase hex separated by sep; written with dashes. */
static bool pod_uid(struct span u, char sep, char out[CGROUP_UID_LEN + 1])
{
	size_t i;

	if (u.n != CGROUP_UID_LEN)
		return false;
	for (i = 0; i < u.n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? u.p[i] != sep : !is_lhex(u.p[i]))
			return false;
	}
	for (i = 0; i < u.n; i++)
		out[i] = u.p[i] == sep ? '-' : u.p[i];
	out[CGROUP_UID_LEN] = '\0';
	return true;
}

/* pod<uid> (cgroupfs) or ...-pod<uid_with_underscores>.slice (systemd). */
static bool pod_component(struct span c, char out[CGROUP_UID_LEN + 1])
{
	struct span u;
	size_t i;

	if (span_prefix(c, "pod")) {
		u.p = c.p + 3;
		u.n = c.n - 3;
		if (pod_uid(u, '-', out))
			return true;
	}
	if (!span_suffix(c, ".slice") || c.n < strlen("-pod.slice"))
		return false;
	c.n -= strlen(".slice");
	for (i = c.n - 4 + 1; i-- > 0;) {
		if (memcmp(c.p + i, "-pod", 4))
			continue;
		u.p = c.p + i + 4;
		u.n = c.n - i - 4;
		return pod_uid(u, '_', out);
	}
	return false;
}

int cgroup__parse_path(const char *path, struct cgroup_ids *out)
{
	struct span comps[CGROUP_PATH_MAX / 2 + 1], c;
	size_t n = 0, i, len;
	bool kubepods = false;
	const char *p;

	if (!path || !out)
		return -EINVAL;
	out->container_id[0] = '\0';
	out->pod_uid[0] = '\0';
	len = strnlen(path, CGROUP_PATH_MAX + 1);
	if (len > CGROUP_PATH_MAX)
		return -ENAMETOOLONG;
	for (p = path; p < path + len;) {
		const char *slash = memchr(p, '/', (size_t)(path + len - p));
		const char *end = slash ? slash : path + len;

		if (end > p) {
			comps[n].p = p;
			comps[n].n = (size_t)(end - p);
			n++;
		}
		p = end + 1;
	}
	/* a pod uid only below kubelet's kubepods (or kubelet-kubepods.slice
	 * under kind and some distributions) */
	for (i = 0; i < n; i++) {
		c = comps[i];
		if (kubepods && !out->pod_uid[0] && pod_component(c, out->pod_uid))
			continue;
		if (span_prefix(c, "kubepods") || span_contains(c, "-kubepods"))
			kubepods = true;
	}
	/* the innermost container: a process in a sub-cgroup of its
	 * container (systemd in a container: <id>/init.scope) still counts */
	for (i = n; i-- > 0;)
		if (container_id(comps[i], out->container_id))
			break;
	return 0;
}

int cgroup__ids(pid_t pid, struct cgroup_ids *out)
{
	char path[CGROUP_PATH_MAX + 1];
	int err;

	if (!out)
		return -EINVAL;
	err = cgroup__read_path(pid, path, sizeof(path));
	if (err)
		return err;
	return cgroup__parse_path(path, out);
}
