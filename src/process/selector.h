/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * selector.h - which processes the node agent gives heap probes: the
 * `--heap-target KIND=VALUE` selectors, parsed and matched against one
 * process's facts. Kinds: exe= (the executable's path, exactly, as
 * /proc/PID/exe reads), comm= (the kernel's 15-byte command name,
 * exactly), container= (a prefix of the container id its cgroup names),
 * pod= (the pod uid, exactly) and cgroup= (a cgroup v2 path prefix, at a
 * component boundary). The facts come from bounded, non-following reads
 * of /proc (util/fileio.h, process/cgroup.h): a process chooses its comm,
 * and whoever manages its cgroup chooses the path.
 */
#ifndef MEMTEL_PROCESS_SELECTOR_H
#define MEMTEL_PROCESS_SELECTOR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "process/cgroup.h"

#define SELECTOR_MAX		32	/* --heap-target selectors at most */
#define SELECTOR_COMM_LEN	15	/* TASK_COMM_LEN - 1 */
#define SELECTOR_VALUE_MAX	CGROUP_PATH_MAX	/* the longest value kind */

enum selector_kind {
	SEL_EXE,
	SEL_COMM,
	SEL_CONTAINER,
	SEL_POD,
	SEL_CGROUP,
};

/* Facts a selector set needs read (selector_set__needs). */
#define SEL_NEED_EXE	0x1
#define SEL_NEED_COMM	0x2
#define SEL_NEED_CGROUP	0x4	/* the path and the ids in it */

struct selector {
	enum selector_kind kind;
	char value[SELECTOR_VALUE_MAX + 1];
	size_t len;
};

struct selector_set {
	struct selector sel[SELECTOR_MAX];
	size_t n;
};

/* What is known of one process; "" for what was not read or is not there. */
struct selector_facts {
	char exe[PATH_MAX];
	char comm[SELECTOR_COMM_LEN + 1];
	char cgroup[CGROUP_PATH_MAX + 1];
	struct cgroup_ids ids;
};

/* "exe=/usr/sbin/nginx" into *out. 0, or -EINVAL with one line (no
 * program prefix) in err: unknown kind, empty or overlong value, a value
 * its kind cannot have (a relative path, a non-hex container id...). */
int selector__parse(const char *text, struct selector *out, char *err,
		    size_t errlen);
/* Parse text and add it to s. 0, -EINVAL (err says why) or -E2BIG (more
 * than SELECTOR_MAX). */
int selector_set__add(struct selector_set *s, const char *text, char *err,
		      size_t errlen);
/* SEL_NEED_* bits of the facts s's selectors look at. */
unsigned int selector_set__needs(const struct selector_set *s);
/* The facts of pid that needs names; a fact that cannot be read stays "".
 * 0, or -ESRCH when pid is gone. */
int selector__read_facts(pid_t pid, unsigned int needs,
			 struct selector_facts *f);
/* Does process f match sel? */
bool selector__match(const struct selector *sel, const struct selector_facts *f);
/* Index of the first selector of s that f matches, or -1. */
int selector_set__match(const struct selector_set *s,
			const struct selector_facts *f);
/* "comm=redis-server" of sel into buf (cut to len). buf. */
const char *selector__format(const struct selector *sel, char *buf,
			     size_t len);

#endif /* MEMTEL_PROCESS_SELECTOR_H */
