// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * usdt.c - attach the otel_memory USDT contract. A program whose own
 * sampler fires otel_memory:alloc(ptr, size, weighted_bytes) for sampled
 * allocations and otel_memory:free(ptr) for frees of sampled pointers
 * needs no malloc/free uprobes: only sampled calls reach the kernel, and
 * on 6.18 a probe on the 5-byte nop of a USDT site costs a call, not a
 * trap (docs/PLATFORM.md). The sites are read from .note.stapsdt of the
 * executable and of every mapped library; libbpf attaches them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/usdt.h"
#include "process/elfinfo.h"
#include "process/procmaps.h"
#include "util/log.h"

/* True if an earlier executable mapping in m is the same file as m->v[i]
 * (a library maps several segments). */
static bool seen_before(const struct mt_maps *m, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (m->v[j].perms[2] == 'x' && m->v[j].inode == m->v[i].inode &&
		    m->v[j].dev_major == m->v[i].dev_major &&
		    m->v[j].dev_minor == m->v[i].dev_minor)
			return true;
	return false;
}

int usdt__attach(struct probes *p, pid_t pid)
{
	struct mt_maps m = { 0 };
	char path[PATH_MAX];
	int err, n_files = 0;
	size_t i;

	err = procmaps__read(pid, &m);
	if (err)
		return err;
	for (i = 0; i < m.n; i++) {
		const struct mt_mapping *mp = &m.v[i];
		int n_alloc, n_free;

		if (mp->perms[2] != 'x' || mp->path[0] != '/' || !mp->inode ||
		    seen_before(&m, i))
			continue;
		if (procmaps__target_path(pid, mp, path, sizeof(path)))
			continue;
		n_alloc = elfinfo__usdt_count(path, USDT_PROVIDER, "alloc");
		if (n_alloc <= 0)
			continue;
		n_free = elfinfo__usdt_count(path, USDT_PROVIDER, "free");
		err = probes__attach_usdt(p, pid, path, USDT_PROVIDER, "alloc");
		if (!err && n_free > 0)
			err = probes__attach_usdt(p, pid, path, USDT_PROVIDER,
						  "free");
		if (err) {
			mt_err("cannot attach otel_memory probes in %s: %s",
			       mp->path, strerror(-err));
			goto cleanup;
		}
		mt_debug("otel_memory: %d alloc and %d free sites in %s",
			 n_alloc, n_free > 0 ? n_free : 0, mp->path);
		n_files++;
	}
	err = n_files;
cleanup:
	procmaps__free(&m);
	return err;
}

int usdt__sampler_path(char *buf, size_t len)
{
	static const char *const rel[] = {
		USDT_SAMPLER_LIB, ".output/" USDT_SAMPLER_LIB,
		"../lib/" USDT_SAMPLER_LIB,
	};
	const char *env = getenv("MEMTEL_SAMPLER_LIB");
	char exe[PATH_MAX], *slash;
	ssize_t n;
	size_t i;

	if (env && *env) {
		if (snprintf(buf, len, "%s", env) >= (int)len)
			return -ENAMETOOLONG;
		return access(buf, R_OK) ? -ENOENT : 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if (snprintf(buf, len, "%s/%s", exe, rel[i]) >= (int)len)
			continue;
		if (access(buf, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int usdt__preload(char **saved)
{
	const char *old = getenv("LD_PRELOAD");
	char lib[PATH_MAX], *val = NULL;
	int err;

	*saved = NULL;
	err = usdt__sampler_path(lib, sizeof(lib));
	if (err)
		return err;
	/* ours first: its malloc then forwards to whatever came after */
	if (old && *old)
		err = asprintf(&val, "%s:%s", lib, old) < 0 ? -ENOMEM : 0;
	else
		val = strdup(lib);
	if (err || !val)
		return -ENOMEM;
	if (old) {
		*saved = strdup(old);
		if (!*saved) {
			free(val);
			return -ENOMEM;
		}
	}
	err = setenv("LD_PRELOAD", val, 1) ? -errno : 0;
	mt_debug("LD_PRELOAD=%s", val);
	free(val);
	if (err) {
		free(*saved);
		*saved = NULL;
	}
	return err;
}

void usdt__preload_restore(char *saved)
{
	if (saved)
		setenv("LD_PRELOAD", saved, 1);
	else
		unsetenv("LD_PRELOAD");
	free(saved);
}
