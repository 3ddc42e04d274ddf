// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * targets.c - pid -> struct target registry. Bounded: past `max` open
 * processes new ones are not opened (their samples keep raw addresses),
 * so a node-wide session cannot grow without limit. Each entry remembers
 * its process's start time: a pid found reused at a reap (same number,
 * another start) is closed at once, so the new process never gets the old
 * one's maps and symbols. Each opening of a pid is an image with a number
 * of its own (targets__image), which stacks and symbol caches key on: what
 * was learnt of a pid before an exec or a reuse stays with that image.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"
#include "process/scan.h"
#include "process/targets.h"
#include "util/u64map.h"

#define TARGET_FAILED ((uintptr_t)1)

struct targets {
	struct u64map by_pid;	/* pid -> struct target * or TARGET_FAILED */
	struct u64map gone_once;	/* pids found gone at the last reap */
	struct u64map started;	/* pid -> start time (stat field 22) */
	struct u64map images;	/* pid -> image number of its open target */
	uint32_t last_image;	/* image numbers handed out, 1..last_image */
	size_t open, max;
};

/* pid's entry went (closed, forgotten or failed): its image ends. */
static void image_end(struct targets *tg, pid_t pid)
{
	u64map__del(&tg->images, (uint64_t)pid, NULL);
}

/* pid has a new target: a new image number (never 0; after 2^32 - 1
 * openings it starts again at 1, which a stack of then still held by a
 * window would have to share pid and number with to be confused). */
static void image_begin(struct targets *tg, pid_t pid)
{
	if (++tg->last_image == 0)
		tg->last_image = 1;
	if (u64map__set(&tg->images, (uint64_t)pid, tg->last_image))
		image_end(tg, pid);	/* no memory: image 0, no symbols */
}

uint32_t targets__image(const struct targets *tg, pid_t pid)
{
	const uint64_t *v = u64map__get(&tg->images, (uint64_t)pid);

	return v ? (uint32_t)*v : 0;
}

struct targets *targets__new(size_t max)
{
	struct targets *tg = calloc(1, sizeof(*tg));

	if (tg)
		tg->max = max;
	return tg;
}

void targets__free(struct targets *tg)
{
	uint64_t key, val;
	size_t it = 0;

	if (!tg)
		return;
	while (u64map__next(&tg->by_pid, &it, &key, &val))
		if (val != TARGET_FAILED)
			target__close((struct target *)(uintptr_t)val);
	u64map__free(&tg->by_pid);
	u64map__free(&tg->gone_once);
	u64map__free(&tg->started);
	u64map__free(&tg->images);
	free(tg);
}

struct target *targets__find(struct targets *tg, pid_t pid)
{
	uint64_t *v = u64map__get(&tg->by_pid, (uint64_t)pid);

	if (!v || *v == TARGET_FAILED)
		return NULL;
	return (struct target *)(uintptr_t)*v;
}

/* The start time in /proc/PID/stat, or what is wrong (0 alive, -ESRCH gone
 * or a zombie). */
static int start_of(pid_t pid, uint64_t *start)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (p && (p[2] == 'Z' || p[2] == 'X'))
		return -ESRCH;
	return proc_scan__parse_stat(buf, start, NULL, 0) ? -EINVAL : 0;
}

struct target *targets__get(struct targets *tg, pid_t pid)
{
	uint64_t *v = u64map__get(&tg->by_pid, (uint64_t)pid), start;
	struct target *t;

	if (v)
		return *v == TARGET_FAILED ? NULL : (struct target *)(uintptr_t)*v;
	t = tg->open < tg->max ? target__open(pid) : NULL;
	/* the start before the maps: a pid reused in between reads as such */
	if (t && start_of(pid, &start) == 0)
		u64map__set(&tg->started, (uint64_t)pid, start);
	if (!t) {
		mt_debug("cannot open process %d for symbols", pid);
		u64map__set(&tg->by_pid, (uint64_t)pid, TARGET_FAILED);
		return NULL;
	}
	if (u64map__set(&tg->by_pid, (uint64_t)pid, (uintptr_t)t)) {
		target__close(t);
		return NULL;
	}
	tg->open++;
	image_begin(tg, pid);
	return t;
}

size_t targets__reap(struct targets *tg, pid_t keep_pid)
{
	uint64_t key, val;
	size_t it = 0, closed = 0;

	while (u64map__next(&tg->by_pid, &it, &key, &val)) {
		uint64_t start = 0, *was;
		int st;

		if ((pid_t)key == keep_pid)
			continue;
		st = start_of((pid_t)key, &start);
		was = u64map__get(&tg->started, key);
		if (st == 0 && was && *was != start) {
			/* reused: what we hold describes another process */
			mt_debug("pid %d was reused: closing its old target",
				 (int)key);
			u64map__set(&tg->gone_once, key, 1);
		} else if (st != -ESRCH) {
			continue;
		}
		/* its last events may still be in the ring buffer: close it
		 * only when it is found gone a second time */
		if (!u64map__get(&tg->gone_once, key)) {
			u64map__set(&tg->gone_once, key, 1);
			continue;
		}
		u64map__del(&tg->gone_once, key, NULL);
		u64map__del(&tg->started, key, NULL);
		image_end(tg, (pid_t)key);
		if (val != TARGET_FAILED) {
			target__close((struct target *)(uintptr_t)val);
			tg->open--;
			closed++;
		}
		u64map__del(&tg->by_pid, key, NULL);
	}
	return closed;
}

int targets__add(struct targets *tg, struct target *t)
{
	if (u64map__set(&tg->by_pid, (uint64_t)target__pid(t), (uintptr_t)t))
		return -ENOMEM;
	tg->open++;
	image_begin(tg, target__pid(t));
	return 0;
}

void targets__forget(struct targets *tg, pid_t pid)
{
	uint64_t val;

	u64map__del(&tg->gone_once, (uint64_t)pid, NULL);
	image_end(tg, pid);
	if (!u64map__del(&tg->by_pid, (uint64_t)pid, &val))
		return;
	if (val != TARGET_FAILED) {
		target__close((struct target *)(uintptr_t)val);
		tg->open--;
	}
}
