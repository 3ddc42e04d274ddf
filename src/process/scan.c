// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * scan.c - the /proc walk behind the node agent's memory gauges and its
 * process count: readdir for the pids, then each one's stat (name, start
 * time: the pair that tells a reused pid from the process it replaced;
 * vsize and rss, the same counters status prints as VmSize and VmRSS)
 * read whole and bounded. One file per process, not stat and status:
 * status is the dearer of the two for the kernel to print, and the scan
 * of a few hundred processes every window was ~15 % of the agent's CPU
 * with both.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process/scan.h"
#include "util/fileio.h"

int proc_scan__pids(pid_t **out, size_t *n, size_t max)
{
	size_t len = 0, cap = 0;
	pid_t *v = NULL, *nv;
	struct dirent *d;
	DIR *dir;
	int err = 0;

	*out = NULL;
	*n = 0;
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while (len < max && (d = readdir(dir))) {
		char *end;
		long pid;

		if (!isdigit((unsigned char)d->d_name[0]))
			continue;
		errno = 0;
		pid = strtol(d->d_name, &end, 10);
		if (errno || *end || pid <= 0 || pid > (1L << 22))
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				err = -ENOMEM;
				goto cleanup;
			}
			v = nv;
		}
		v[len++] = (pid_t)pid;
	}
	*out = v;
	*n = len;
	v = NULL;
cleanup:
	free(v);
	closedir(dir);
	return err;
}

int proc_scan__parse_stat(const char *text, uint64_t *start_ticks,
			  char *comm, size_t size)
{
	const char *lp = strchr(text, '('), *rp = strrchr(text, ')');
	const char *p;
	int field;

	if (!lp || !rp || rp < lp)
		return -EINVAL;
	if (comm && size) {
		size_t l = (size_t)(rp - lp - 1);

		if (l >= size)
			l = size - 1;
		memcpy(comm, lp + 1, l);
		comm[l] = '\0';
	}
	/* field 3 (state) follows ") "; starttime is field 22 */
	p = rp + 1;
	for (field = 2; field < 21 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return -EINVAL;
	errno = 0;
	*start_ticks = strtoull(p + 1, NULL, 10);
	return errno ? -EINVAL : 0;
}

/* PF_KTHREAD in stat's flags (field 9), include/linux/sched.h */
#define SCAN_PF_KTHREAD 0x00200000ULL

int proc_scan__parse_stat_mem(const char *text, uint64_t page_size,
			      struct proc_mem *out)
{
	uint64_t flags, vsize, rss;

	if (!page_size || procstat__stat_field(text, 9, &flags) ||
	    procstat__stat_field(text, 23, &vsize) ||
	    procstat__stat_field(text, 24, &rss) ||
	    rss > UINT64_MAX / page_size)
		return -EINVAL;
	/* a kernel thread or a zombie has no mm: status has no Vm* lines */
	if ((flags & SCAN_PF_KTHREAD) || !vsize)
		return -ENODATA;
	out->rss_bytes = rss * page_size;
	out->virtual_bytes = vsize;
	return 0;
}

int proc_scan__read(pid_t pid, struct proc_info *out)
{
	static uint64_t page_size;
	char path[64], *text = NULL;
	int err;

	if (!page_size)
		page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	memset(out, 0, sizeof(*out));
	out->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	err = fileio__read_text(path, 0, PROCSTAT_MAX_STATUS, &text, NULL);
	if (err)
		return err;
	err = proc_scan__parse_stat(text, &out->start_ticks, out->comm,
				    sizeof(out->comm));
	if (!err)
		err = proc_scan__parse_stat_mem(text, page_size, &out->mem);
	free(text);
	return err;
}
