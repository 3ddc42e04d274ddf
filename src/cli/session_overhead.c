// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * session_overhead.c - the session's estimate of what its heap probes cost
 * each target: the per-hit cost calibrated after the BPF object is loaded
 * (attach/calibrate.c), then at every export window and at the end each
 * tracked process's hits (BPF) and CPU time (/proc/PID/stat) into
 * model/overhead.c. Processes no longer tracked are forgotten (their
 * totals stay in the all-processes figure). The summary, the metrics and
 * the pprof comments read the model.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attach/calibrate.h"
#include "attach/probes.h"
#include "cli/session.h"
#include "model/overhead.h"
#include "process/procstat.h"
#include "sinks/telemetry.h"
#include "util/clock.h"
#include "util/log.h"

int session__calibrate(struct session *s)
{
	uint64_t t0 = clock__mono_ns();
	double ns;
	int err;

	if (!s->heap || !s->probes || s->ovh)
		return 0;
	err = calibrate__hit_cost(s->probes, 0, &ns);
	if (err)
		mt_info("warning: cannot measure what a heap probe hit costs here (%s): overhead estimates assume %.0f ns per hit",
			strerror(-err), ns);
	else
		mt_debug("heap probe hit cost: %.0f ns (calibrated in %.0f ms)",
			 ns, (double)(clock__mono_ns() - t0) / 1e6);
	s->ovh_measured = !err;
	s->ovh = overhead__new(ns);
	if (!s->ovh) {
		mt_err("out of memory");
		return -ENOMEM;
	}
	if (s->tel)
		telemetry__set_overhead(s->tel, s->ovh);
	return 0;
}

void session__overhead_update(struct session *s)
{
	uint64_t now = clock__mono_ns(), hits, cpu, sys;
	pid_t pid = 0, next;
	size_t it = 0;
	uint32_t known;
	int guard = 0;

	if (!s->ovh || !s->probes)
		return;
	/* the set is small (MT_MAX_TARGETS); guard against a walk that
	 * restarts forever while it changes */
	while (!probes__next_target(s->probes, pid, &next) &&
	       guard++ < 1 << 16) {
		pid = next;
		if (probes__hits(s->probes, pid, &hits) ||
		    procstat__cpu_sys_ns(pid, &cpu, &sys))
			continue;
		/* tracked since after attach: from its fork (the kernel adds
		 * children before they run), so all its CPU was probed */
		if (s->ovh_based && !overhead__get(s->ovh, (uint32_t)pid, NULL,
						   NULL) &&
		    overhead__update_sys(s->ovh, (uint32_t)pid, 0, 0, 0, now))
			continue;
		if (overhead__update_sys(s->ovh, (uint32_t)pid, hits, cpu, sys,
					 now))
			mt_debug("overhead: out of memory for pid %d", pid);
	}
	s->ovh_based = true;
	/* forgotten: no longer tracked (exited); removal while iterating
	 * only marks the slot */
	while (overhead__next(s->ovh, &it, &known)) {
		if (probes__hits(s->probes, (pid_t)known, &hits) == -ENOENT)
			overhead__forget(s->ovh, known);
	}
}

/* "1.2M" */
static void short_count(uint64_t v, char *buf, size_t len)
{
	if (v >= 10000000000ULL)
		snprintf(buf, len, "%.0fG", (double)v / 1e9);
	else if (v >= 1000000000ULL)
		snprintf(buf, len, "%.1fG", (double)v / 1e9);
	else if (v >= 1000000)
		snprintf(buf, len, "%.1fM", (double)v / 1e6);
	else if (v >= 10000)
		snprintf(buf, len, "%.0fk", (double)v / 1e3);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

int session__overhead_format(const struct session *s,
			     const struct overhead_est *e, char *buf,
			     size_t len)
{
	char hits[32];

	(void)s;	/* the cost is the estimate's own (per process) */
	short_count(e->hits, hits, sizeof(hits));
	return snprintf(buf, len,
			"~%.1f%% estimated slowdown (%s hits x %.0f ns over %.1f s CPU)",
			e->slowdown * 100, hits, e->ns_per_hit,
			e->cpu_ns / 1e9);
}

/* Append one comment line on what the heap probes cost `who`. */
static size_t note_line(const struct session *s, char *buf, size_t len,
			size_t off, const char *who,
			const struct overhead_est *e)
{
	char situ[64] = "";
	int w;

	if (off >= len)
		return off;
	/* the target's own system time said more */
	if (e->ns_per_hit > overhead__ns_per_hit(s->ovh) + 0.5)
		snprintf(situ, sizeof(situ), ", %.0f ns/hit by its system time",
			 e->ns_per_hit);
	w = snprintf(buf + off, len - off,
		     "%smemtel: heap probes cost %s an estimated %.1f%% (%llu hits, %s %.0f ns/hit%s)",
		     off ? "\n" : "", who, e->slowdown * 100,
		     (unsigned long long)e->hits,
		     s->ovh_measured ? "calibrated" : "assumed",
		     overhead__ns_per_hit(s->ovh), situ);
	return off + (w > 0 ? (size_t)w : 0);
}

size_t session__overhead_notes(const struct session *s, char *buf, size_t len)
{
	struct overhead_est all, tot;
	size_t it = 0, off = 0, n;
	char who[48];
	uint32_t pid;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!s->ovh)
		return 0;
	n = overhead__all(s->ovh, &all);
	while (overhead__next(s->ovh, &it, &pid)) {
		if (!overhead__get(s->ovh, pid, NULL, &tot) || !tot.span_ns)
			continue;
		snprintf(who, sizeof(who), "pid %u", pid);
		off = note_line(s, buf, len, off, who, &tot);
	}
	if (n == 1 && !off && overhead__last_gone(s->ovh))
		/* the one process measured has exited */
		snprintf(who, sizeof(who), "pid %u",
			 overhead__last_gone(s->ovh));
	else
		snprintf(who, sizeof(who), "all %zu process%s", n,
			 n > 1 ? "es" : "");
	if (n > 1 || (n == 1 && !off))
		off = note_line(s, buf, len, off, who, &all);
	return off < len ? off : len - 1;
}
