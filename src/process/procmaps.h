/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * procmaps.h - parse /proc/PID/maps into an array of mappings.
 */
#ifndef MEMTEL_PROCMAPS_H
#define MEMTEL_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bound on /proc/PID/maps: about 100 bytes a line and vm.max_map_count
 * (65530 by default) lines; a process cannot make us read more. */
#define PROCMAPS_MAX_BYTES	(64 * 1024 * 1024)

struct mt_mapping {
	uint64_t start, end, pgoff, inode;
	unsigned int dev_major, dev_minor;
	char perms[5];		/* "r-xp" */
	char *path;		/* "" for anonymous; " (deleted)" suffix removed */
	bool deleted;		/* path had the " (deleted)" suffix */
};

struct mt_maps {
	struct mt_mapping *v;
	size_t n;
};

/* Parse one maps line of len bytes (no newline needed) into *mp, whose
 * path is then malloc'ed. 0, -EINVAL or -ENOMEM. */
int procmaps__parse_line(const char *line, size_t len, struct mt_mapping *mp);
/* Parse maps text (NUL-terminated). 0 or -errno (-EINVAL on a bad line). */
int procmaps__parse(const char *text, struct mt_maps *out);
/* Read and parse /proc/PID/maps. 0 or -errno (-ESRCH if the pid is gone). */
int procmaps__read(pid_t pid, struct mt_maps *out);
void procmaps__free(struct mt_maps *m);
/* Mapping containing addr, or NULL. Mappings are sorted by start. */
const struct mt_mapping *procmaps__find(const struct mt_maps *m, uint64_t addr);
/* Path through which the profiler opens a mapping's file as the target sees
 * it: /proc/PID/map_files/START-END (works for deleted files and other mount
 * namespaces), falling back to /proc/PID/root/PATH. Writes into buf.
 * 0 or -ENAMETOOLONG. */
int procmaps__target_path(pid_t pid, const struct mt_mapping *mp, char *buf,
			  size_t len);

#endif /* MEMTEL_PROCMAPS_H */
