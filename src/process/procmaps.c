// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procmaps.c - parse /proc/PID/maps into a sorted array of mappings, look an
 * address up in it, and name the path through which the profiler opens a
 * mapping's file as the target process sees it (map_files/ or root/, never
 * the profiler's own mount namespace).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process/procmaps.h"
#include "util/fileio.h"

#define DELETED_SUFFIX " (deleted)"

static int mapping_cmp(const void *a, const void *b)
{
	const struct mt_mapping *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* A number in base 16 or 10 at *p, ending before lim: at least one
 * digit and no overflow; *p moves past it. */
static bool take_num(const char **p, const char *lim, unsigned int base,
		     unsigned long long *out)
{
	unsigned long long v = 0;
	const char *q = *p;

	for (; q < lim; q++) {
		unsigned int d;

		if (*q >= '0' && *q <= '9')
			d = (unsigned int)(*q - '0');
		else if (base == 16 && *q >= 'a' && *q <= 'f')
			d = (unsigned int)(*q - 'a' + 10);
		else if (base == 16 && *q >= 'A' && *q <= 'F')
			d = (unsigned int)(*q - 'A' + 10);
		else
			break;
		if (v > (ULLONG_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (q == *p)
		return false;
	*out = v;
	*p = q;
	return true;
}

/* The separator c at *p (moved past it). */
static bool take_char(const char **p, const char *lim, char c)
{
	if (*p >= lim || **p != c)
		return false;
	(*p)++;
	return true;
}

/* One line as the kernel prints it (show_map_vma): "start-end perms
 * pgoff major:minor inode [path]", hex but for the inode. Parsed by hand:
 * sscanf was a third of reading a new process's maps. */
int procmaps__parse_line(const char *line, size_t len, struct mt_mapping *mp)
{
	unsigned long long start, end, pgoff, inode, major, minor;
	const char *p = line, *lim = line + len, *path;
	char perms[5];
	size_t plen;
	int i;

	if (!take_num(&p, lim, 16, &start) || !take_char(&p, lim, '-') ||
	    !take_num(&p, lim, 16, &end) || !take_char(&p, lim, ' '))
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		if (p >= lim || *p == ' ' || *p == '\t' || !*p)
			return -EINVAL;
		perms[i] = *p++;
	}
	perms[4] = '\0';
	if (!take_char(&p, lim, ' ') || !take_num(&p, lim, 16, &pgoff) ||
	    !take_char(&p, lim, ' ') || !take_num(&p, lim, 16, &major) ||
	    !take_char(&p, lim, ':') || !take_num(&p, lim, 16, &minor) ||
	    !take_char(&p, lim, ' ') || !take_num(&p, lim, 10, &inode) ||
	    end < start || major > UINT_MAX || minor > UINT_MAX ||
	    (p < lim && *p != ' ' && *p != '\t'))
		return -EINVAL;

	path = p;
	while (path < lim && (*path == ' ' || *path == '\t'))
		path++;
	plen = (size_t)(lim - path);
	/* a NUL inside the line ends the path, as it ended sscanf's copy */
	plen = strnlen(path, plen);

	memset(mp, 0, sizeof(*mp));
	if (plen > strlen(DELETED_SUFFIX) &&
	    !memcmp(path + plen - strlen(DELETED_SUFFIX), DELETED_SUFFIX,
		    strlen(DELETED_SUFFIX))) {
		plen -= strlen(DELETED_SUFFIX);
		mp->deleted = true;
	}
	mp->path = strndup(path, plen);
	if (!mp->path)
		return -ENOMEM;

	mp->start = start;
	mp->end = end;
	mp->pgoff = pgoff;
	mp->inode = inode;
	mp->dev_major = (unsigned int)major;
	mp->dev_minor = (unsigned int)minor;
	memcpy(mp->perms, perms, sizeof(mp->perms));
	return 0;
}

int procmaps__parse(const char *text, struct mt_maps *out)
{
	struct mt_maps m = {};
	size_t cap = 0, i;
	const char *p, *nl;
	bool sorted = true;
	int err = 0;

	if (!text || !out)
		return -EINVAL;

	for (p = text; *p; p = *nl ? nl + 1 : nl) {
		size_t len;

		nl = strchrnul(p, '\n');
		len = nl - p;
		if (len == 0)
			continue;	/* blank line, e.g. trailing */

		if (m.n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct mt_mapping *nv;

			nv = reallocarray(m.v, ncap, sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				goto cleanup;
			}
			m.v = nv;
			cap = ncap;
		}
		err = procmaps__parse_line(p, len, &m.v[m.n]);
		if (err)
			goto cleanup;
		if (m.n && m.v[m.n].start < m.v[m.n - 1].start)
			sorted = false;
		m.n++;
	}

	/* The kernel emits maps in address order; sort anyway for text that
	 * did not come from it, since procmaps__find() relies on the order. */
	if (!sorted)
		qsort(m.v, m.n, sizeof(*m.v), mapping_cmp);

	*out = m;
	return 0;

cleanup:
	for (i = 0; i < m.n; i++)
		free(m.v[i].path);
	free(m.v);
	return err;
}

int procmaps__read(pid_t pid, struct mt_maps *out)
{
	char fname[64], *buf = NULL;
	int err;

	snprintf(fname, sizeof(fname), "/proc/%d/maps", (int)pid);
	err = fileio__read_text(fname, 0, PROCMAPS_MAX_BYTES, &buf, NULL);
	if (!err)
		err = procmaps__parse(buf, out);
	free(buf);
	return err;
}

void procmaps__free(struct mt_maps *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

const struct mt_mapping *procmaps__find(const struct mt_maps *m, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!m || !m->n)
		return NULL;

	/* Find the last mapping with start <= addr. */
	hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if (addr < m->v[lo - 1].end)
		return &m->v[lo - 1];
	return NULL;
}

int procmaps__target_path(pid_t pid, const struct mt_mapping *mp, char *buf,
			  size_t len)
{
	int n;

	if (!mp || !buf)
		return -EINVAL;

	/* map_files/ needs CAP_SYS_ADMIN and a file-backed mapping; it reaches
	 * the very inode mapped, even if deleted or in another mount ns. */
	n = snprintf(buf, len, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		     (int)pid, mp->start, mp->end);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	if (access(buf, F_OK) == 0)
		return 0;

	n = snprintf(buf, len, "/proc/%d/root%s", (int)pid,
		     mp->path ? mp->path : "");
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}
