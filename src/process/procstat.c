// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procstat.c - /proc/PID/stat, status and smaps: liveness, memory gauges
 * and our own capabilities. The text comes from the process we profile, so
 * every read is bounded (fileio__read_text) and every number checked.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "process/procmaps.h"
#include "process/procstat.h"
#include "util/fileio.h"

#define KIB		1024ULL

/* "   1234 kB" after a "Key:" prefix -> bytes. */
static int parse_kb(const char *p, uint64_t *bytes)
{
	unsigned long long v;
	char *end;

	while (*p == ' ' || *p == '\t')
		p++;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || end == p || v > UINT64_MAX / KIB)
		return -EINVAL;
	*bytes = v * KIB;
	return 0;
}

int procstat__parse_status(const char *text, struct proc_mem *out)
{
	bool have_rss = false, have_size = false;
	const char *p, *nl;
	uint64_t rss = 0, size = 0;
	int err;

	if (!text || !out)
		return -EINVAL;
	for (p = text; *p; p = *nl ? nl + 1 : nl) {
		nl = strchrnul(p, '\n');
		if (!strncmp(p, "VmRSS:", 6)) {
			err = parse_kb(p + 6, &rss);
			if (err)
				return err;
			have_rss = true;
		} else if (!strncmp(p, "VmSize:", 7)) {
			err = parse_kb(p + 7, &size);
			if (err)
				return err;
			have_size = true;
		}
	}
	/* Kernel threads and zombies have no Vm* lines. */
	if (!have_rss || !have_size)
		return -ENODATA;
	out->rss_bytes = rss;
	out->virtual_bytes = size;
	return 0;
}

/* Is this smaps header line (a maps line) a mapping whose Rss is the
 * allocator's? 0 or -errno. */
static int smaps_header(const char *line, size_t len, bool *counts)
{
	struct mt_mapping mp;
	int err;

	err = procmaps__parse_line(line, len, &mp);
	if (err)
		return err;
	/* The [heap] (brk) arena plus private anonymous mappings: other malloc
	 * arenas and mmap'ed chunks (named "[anon: glibc: malloc...]" when
	 * glibc decorates them). Thread stacks are anonymous too and cannot be
	 * told apart. */
	*counts = mp.perms[3] == 'p' &&
		  (!strcmp(mp.path, "[heap]") ||
		   (mp.inode == 0 &&
		    (!*mp.path || !strncmp(mp.path, "[anon:", 6))));
	free(mp.path);
	return 0;
}

int procstat__parse_smaps(const char *text, uint64_t *allocator_bytes)
{
	bool counts = false;
	const char *p, *nl;
	uint64_t total = 0, v;
	int err;

	if (!text || !allocator_bytes)
		return -EINVAL;
	for (p = text; *p; p = *nl ? nl + 1 : nl) {
		size_t len, klen;

		nl = strchrnul(p, '\n');
		len = nl - p;
		if (len == 0)
			continue;
		/* Field lines are "Key: value"; keys have no blanks. */
		klen = strcspn(p, ": \t\n");
		if (klen < len && p[klen] == ':') {
			if (klen == 3 && !strncmp(p, "Rss", 3) && counts) {
				err = parse_kb(p + 4, &v);
				if (err)
					return err;
				total += v;
			}
			continue;
		}
		err = smaps_header(p, len, &counts);
		if (err)
			return err;
	}
	*allocator_bytes = total;
	return 0;
}

int procstat__read_mem(pid_t pid, struct proc_mem *out)
{
	struct proc_mem r = {};
	char path[64], *text = NULL;
	int err;

	if (!out || pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	err = fileio__read_text(path, 0, PROCSTAT_MAX_STATUS, &text, NULL);
	if (err)
		goto cleanup;
	err = procstat__parse_status(text, &r);
	if (err)
		goto cleanup;
	free(text);
	text = NULL;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	err = fileio__read_text(path, 0, PROCSTAT_MAX_SMAPS, &text, NULL);
	if (err)
		goto cleanup;
	err = procstat__parse_smaps(text, &r.allocator_bytes);
	if (err)
		goto cleanup;
	*out = r;

cleanup:
	free(text);
	return err;
}

int procstat__stat_field(const char *text, int field, uint64_t *val)
{
	unsigned long long v;
	const char *p;
	char *end;
	int i;

	if (!text || field < 3)
		return -EINVAL;
	/* fields after comm are separated by single spaces */
	p = strrchr(text, ')');
	for (i = 2; p && i < field; i++)
		p = strchr(p + 1, ' ');
	if (!p || p[1] < '0' || p[1] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(p + 1, &end, 10);
	if (errno || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	*val = v;
	return 0;
}

int procstat__parse_cpu(const char *text, long hz, uint64_t *cpu_ns)
{
	uint64_t ut, st, t;

	if (hz <= 0 || procstat__stat_field(text, 14, &ut) ||
	    procstat__stat_field(text, 15, &st) || ut + st < ut)
		return -EINVAL;
	t = ut + st;
	*cpu_ns = t / (uint64_t)hz * 1000000000ULL +
		  t % (uint64_t)hz * 1000000000ULL / (uint64_t)hz;
	return 0;
}

int procstat__cpu_ns(pid_t pid, uint64_t *cpu_ns)
{
	char path[64], *text = NULL;
	struct timespec ts;
	clockid_t clk;
	int err;

	/* the process's CPU clock: to the ns (its sum_exec_runtime), where
	 * /proc/PID/stat counts clock ticks (10 ms), too coarse for the
	 * budget's decisions tens of ms apart */
	if (pid > 0 && !clock_getcpuclockid(pid, &clk) &&
	    !clock_gettime(clk, &ts)) {
		*cpu_ns = (uint64_t)ts.tv_sec * 1000000000ULL +
			  (uint64_t)ts.tv_nsec;
		return 0;
	}

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	err = fileio__read_text(path, 0, PROCSTAT_MAX_STATUS, &text, NULL);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = procstat__parse_cpu(text, sysconf(_SC_CLK_TCK), cpu_ns);
	free(text);
	return err;
}

/* Numeric field `field` of /proc/PID/stat. 0 or -errno (-ESRCH gone). */
static int pid_stat_field(pid_t pid, int field, uint64_t *val)
{
	char path[64], *text = NULL;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	err = fileio__read_text(path, 0, PROCSTAT_MAX_STATUS, &text, NULL);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = procstat__stat_field(text, field, val);
	free(text);
	return err;
}

int procstat__cpu_sys_ns(pid_t pid, uint64_t *cpu_ns, uint64_t *sys_ns)
{
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t st;
	int err;

	err = hz > 0 ? pid_stat_field(pid, 15, &st) : -EINVAL;
	if (err)
		return err;
	*sys_ns = st / (uint64_t)hz * 1000000000ULL +
		  st % (uint64_t)hz * 1000000000ULL / (uint64_t)hz;
	return procstat__cpu_ns(pid, cpu_ns);
}

int procstat__pid_state(pid_t pid)
{
	char path[64], *text = NULL, *p;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	err = fileio__read_text(path, 0, PROCSTAT_MAX_STATUS, &text, NULL);
	if (err)
		return -ESRCH;
	/* the state follows the last ')': comm may contain ") " itself */
	p = strrchr(text, ')');
	if (!p || p[1] != ' ')
		err = 0;
	else
		err = p[2] == 'Z' || p[2] == 'X' ? -ECHILD : 0;
	free(text);
	return err;
}

int procstat__parse_syscall(const char *text, long *nr)
{
	char *end;
	long v;

	if (!text || !nr)
		return -EINVAL;
	if (!strncmp(text, "running", 7))
		return -EAGAIN;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || (*end != ' ' && *end != '\n' && *end))
		return -EINVAL;
	if (v < 0)
		return -EAGAIN;
	*nr = v;
	return 0;
}

int procstat__blocked_syscall(pid_t pid, long *nr)
{
	char path[64], *text = NULL;
	uint64_t threads;
	int err;

	err = pid_stat_field(pid, 20, &threads);
	if (err)
		return err;
	if (threads != 1)
		return -EAGAIN;
	/* "NR args... sp pc": a few hundred bytes */
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	err = fileio__read_text(path, 0, 4096, &text, NULL);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	err = procstat__parse_syscall(text, nr);
	free(text);
	return err;
}

int procstat__parse_capeff(const char *text, uint64_t *eff)
{
	const char *p;
	unsigned long long v;
	char *end;

	if (!text || !eff)
		return -EINVAL;
	for (p = text; *p; p = *p ? p + 1 : p) {
		if (strncmp(p, "CapEff:", 7)) {
			p = strchrnul(p, '\n');
			continue;
		}
		errno = 0;
		v = strtoull(p + 7, &end, 16);
		if (errno || end == p + 7 || (*end && *end != '\n'))
			return -EINVAL;
		*eff = v;
		return 0;
	}
	return -EINVAL;
}

int procstat__self_caps(uint64_t *eff)
{
	char *text = NULL;
	int err;

	err = fileio__read_text("/proc/self/status", 0, PROCSTAT_MAX_STATUS,
				&text, NULL);
	if (!err)
		err = procstat__parse_capeff(text, eff);
	free(text);
	return err;
}
