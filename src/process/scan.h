/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * scan.h - the node agent's walk of /proc: every process id, and each
 * process's name, start time and memory figures from its stat file
 * (a bounded read through util/fileio.h). Kernel threads and zombies have
 * no memory and are left out by the reader.
 */
#ifndef MEMTEL_PROCESS_SCAN_H
#define MEMTEL_PROCESS_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "process/procstat.h"

#define SCAN_MAX_PIDS	(1 << 20)	/* pid_max can reach 4194304 */

struct proc_info {
	pid_t pid;
	uint64_t start_ticks;	/* /proc/PID/stat field 22 */
	char comm[16];
	struct proc_mem mem;	/* rss and virtual; allocator_bytes 0 */
};

/* Every numeric entry of /proc (at most max) into a malloc'ed *out, in
 * directory order. 0 or -errno. */
int proc_scan__pids(pid_t **out, size_t *n, size_t max);
/* The start time in /proc/PID/stat text (after the comm's last ')'), and
 * the comm into comm (size bytes) if not NULL. 0 or -EINVAL. */
int proc_scan__parse_stat(const char *text, uint64_t *start_ticks,
			  char *comm, size_t size);
/* VmRSS and VmSize from /proc/PID/stat text: rss (field 24, pages of
 * page_size bytes) and vsize (field 23, bytes), the counters status
 * prints. 0, -ENODATA (a kernel thread or a zombie: no memory) or
 * -EINVAL. */
int proc_scan__parse_stat_mem(const char *text, uint64_t page_size,
			      struct proc_mem *out);
/* pid's stat into out. 0, -ENODATA (a kernel thread or a zombie) or
 * -errno (-ESRCH: gone). */
int proc_scan__read(pid_t pid, struct proc_info *out);

#endif /* MEMTEL_PROCESS_SCAN_H */
