// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * agent.c - `memtel-bpf agent`, the node agent. It runs the session's own
 * steps (session_parts.h: checks, models, OTLP, BPF with the --all CPU
 * sampler) and then, every export interval: the window's CPU samples as
 * OTLP profiles (or cpu-<unix>.pb.gz in -o DIR), a /proc scan for the
 * memory gauges of the largest processes (the rest summed as "other"),
 * and the agent's own figures, to OTLP metrics and to the /metrics text
 * served by sinks/http. The CPU model (stacks, counts, symbol cache,
 * profile sink) is rebuilt after each window, so memory follows one
 * window's samples, not the agent's uptime, and a reused pid never finds
 * the previous process's cached frames. SIGTERM ends with one last window
 * and an OTLP flush of at most SESSION_FLUSH_DEADLINE_MS.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attach/allocator.h"
#include "attach/probes.h"
#include "cli/agent.h"
#include "cli/agent_heap.h"
#include "cli/session_parts.h"
#include "model/memmetrics.h"
#include "process/scan.h"
#include "sinks/file/cpu_report.h"
#include "sinks/http/http.h"
#include "sinks/otlp/otlp_metrics.h"
#include "sinks/otlp/otlp_resource.h"
#include "sinks/otlp/profile_export.h"
#include "sinks/prom/prom.h"
#include "unwind/unwind.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/u64map.h"

#define AGENT_REAP_NS	1000000000ULL	/* exited processes released */
#define AGENT_N_GAUGES	3		/* rss, heap, virtual */
#define AGENT_N_SELF	20		/* self-telemetry points, at most */
/* Ring buffer: 2 MiB per CPU (a power of two, 8..32 MiB). CPU samples are
 * at most ~8 KiB (the user stack window) at 99 Hz per CPU, ~1.6 MB/s per
 * 2 CPUs, drained every 10 ms: 8 MiB holds seconds of them, where the
 * session's 32 MiB default (sized for heap bursts) is mostly resident
 * memory the agent does not need. */
#define AGENT_RING_MIN	(8u << 20)
#define AGENT_RING_MAX	(32u << 20)
/* Windows a process's heap gauge (its smaps, the scan's most expensive
 * read) is reused while its status says the same start time and VmRSS
 * and VmSize within 1/AGENT_HEAP_SLACK of the reading's, before it is
 * read again. */
#define AGENT_HEAP_REUSE 6
#define AGENT_HEAP_SLACK 64

struct agent {
	struct agent_options *ao;
	struct session s;
	struct http_server *http;
	pthread_mutex_t lock;	/* prom_text, between loop and HTTP thread */
	char *prom_text;
	size_t prom_len;
	double start_unix;
	bool attached, scanned, window_ok;
	size_t processes;	/* seen by the last scan */
	uint64_t windows, windows_failed, files_written;
	struct otlp_resource self_res;
	struct agent_heap *heap;	/* --heap-target processes; NULL: none */
	struct u64map heap_memo;	/* pid -> struct heap_memo * */
};

/* The last smaps reading of a process, and what its status said then. */
struct heap_memo {
	uint64_t start_ticks, rss, virt, heap;
	unsigned int age;	/* windows it was reused */
};

static uint64_t unix_ns(void)
{
	return clock__real_ns();
}

/* /readyz: attached, scanned, and the last window's output worked. */
static void agent__update_ready(struct agent *a)
{
	http_server__set_ready(a->http, a->attached && a->scanned &&
					a->window_ok);
}

static int agent__render(void *ctx, FILE *out)
{
	struct agent *a = ctx;
	int err = 0;

	pthread_mutex_lock(&a->lock);
	if (a->prom_len && fwrite(a->prom_text, 1, a->prom_len, out) !=
			   a->prom_len)
		err = -EIO;
	pthread_mutex_unlock(&a->lock);
	return err;
}

/* A fresh CPU model for the next window: new stacks, counts, symbol cache
 * and profile sink, swapped into the collector (whose counters go on). The
 * targets (maps, ELF files) and symbol tables stay. 0 or -ENOMEM (the old
 * model is then kept). */
static int agent__reset_cpu(struct agent *a, uint64_t now_ns)
{
	struct session *s = &a->s;
	struct profile_export_opts pe = {
		.otel = &s->otel, .targets = s->targets, .exp = s->exp,
		.freq = s->o->freq, .start_unix_ns = now_ns,
	};
	struct stacks *st = stacks__new();
	struct cpustate *cs = cpustate__new();
	struct symcache *sc = symcache__new(s->targets, s->ksyms, s->symdb);
	struct profile_export *px = NULL;

	pe.stacks = st;
	pe.syms = sc;
	pe.cpu = cs;
	if (st && cs && sc && s->pexp)
		px = profile_export__new(&pe);
	if (!st || !cs || !sc || (s->pexp && !px)) {
		profile_export__free(px);
		symcache__free(sc);
		cpustate__free(cs);
		stacks__free(st);
		return -ENOMEM;
	}
	profile_export__free(s->pexp);
	symcache__free(s->syms);
	cpustate__free(s->cpust);
	stacks__free(s->stacks);
	s->pexp = px;
	s->syms = s->coll.syms = sc;
	s->cpust = s->coll.cpu = cs;
	s->stacks = s->coll.stacks = st;
	return 0;
}

/* PREFIX<digits>[-<digits>].pb.gz, the names agent__write_cpu
 * (cpu-<unix>) and the heap targets (heap-<unix>-<pid>) give. */
static bool is_window_file(const char *name, const char *prefix)
{
	size_t n = strlen(name), p = strlen(prefix), d;

	if (n <= p + 6 || strncmp(name, prefix, p) ||
	    strcmp(name + n - 6, ".pb.gz"))
		return false;
	d = strspn(name + p, "0123456789");
	if (d && p + d + 1 < n - 6 && name[p + d] == '-')
		d += 1 + strspn(name + p + d + 1, "0123456789");
	return d && p + d == n - 6 && name[n - 7] != '-';
}

static int cmp_name(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;
	unsigned long long ta = strtoull(a + strcspn(a, "0123456789"), NULL, 10);
	unsigned long long tb = strtoull(b + strcspn(b, "0123456789"), NULL, 10);

	/* the same prefix: the number after it is the time */
	if (ta != tb)
		return ta < tb ? -1 : 1;
	return strcmp(a, b);
}

/* Keep the newest keep PREFIX*.pb.gz in dir: unlinked by name, never
 * followed, so a planted link is only removed. */
static void agent__prune(const char *dir, const char *prefix,
			 unsigned int keep)
{
	char **names = NULL, **nn;
	size_t n = 0, cap = 0, i;
	struct dirent *d;
	DIR *dp = opendir(dir);

	if (!dp)
		return;
	while ((d = readdir(dp))) {
		if (!is_window_file(d->d_name, prefix))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		names[n] = strdup(d->d_name);
		if (names[n])
			n++;
	}
	if (n > keep) {
		qsort(names, n, sizeof(*names), cmp_name);
		for (i = 0; i < n - keep; i++)
			if (unlinkat(dirfd(dp), names[i], 0) && errno != ENOENT)
				mt_debug("cannot remove %s/%s: %s", dir,
					 names[i], strerror(errno));
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dp);
}

/* The window's CPU samples as DIR/cpu-<unix seconds>.pb.gz. 0 or -errno. */
static int agent__write_cpu(struct agent *a, uint64_t from_ns, uint64_t now_ns)
{
	struct session *s = &a->s;
	struct cpu_report cr = {
		.cpu = s->cpust, .stacks = s->stacks, .syms = s->syms,
		.freq = s->o->freq, .time_nanos = (int64_t)from_ns,
		.duration_nanos = (int64_t)(now_ns - from_ns),
	};
	char path[PATH_MAX + 64];
	int err;

	if (!s->outdir[0])
		return 0;
	/* milliseconds: the final window at SIGTERM may end in the same
	 * second as the last regular one, and must not replace its file */
	snprintf(path, sizeof(path), "%s/cpu-%llu.pb.gz", s->outdir,
		 (unsigned long long)(now_ns / 1000000ULL));
	err = cpu_report__write_pprof(&cr, path);
	if (err) {
		mt_err("cannot write %s: %s", path, strerror(-err));
		return err;
	}
	a->files_written++;
	agent__prune(s->outdir, "cpu-", a->ao->keep_files);
	return 0;
}

/* One process's gauges: the points, the resource and its labels. */
struct agent_proc {
	struct proc_info pi;
	char exe[PATH_MAX];
	char pid_str[16];
	struct mm_point points[AGENT_N_GAUGES];
	struct mm_snapshot snap;
	/* what goes out: snap, or a heap target's 13 metrics; and a heap
	 * target's own telemetry (NULL otherwise) */
	const struct mm_snapshot *out, *self;
	struct otlp_resource res;
	struct prom_label labels[32];
	size_t n_labels;
};

static int cmp_rss(const void *x, const void *y)
{
	const struct proc_info *a = x, *b = y;

	if (a->mem.rss_bytes != b->mem.rss_bytes)
		return a->mem.rss_bytes > b->mem.rss_bytes ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static void gauge(struct mm_point *p, const char *name, const char *desc,
		  const char *component, double v, double t)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->unit = "By";
	p->description = desc;
	p->kind = MM_KIND_GAUGE;
	p->n_labels = 1;
	p->labels[0].key = "component";
	p->labels[0].value = component;
	p->value = v;
	p->start_s = t;
	p->time_s = t;
}

static void agent_proc__points(struct agent_proc *p, const char *component,
			       uint64_t rss, uint64_t heap, uint64_t virt,
			       double t)
{
	gauge(&p->points[0], "memory.rss_bytes",
	      "Resident set size of the process", component, (double)rss, t);
	gauge(&p->points[1], "memory.heap_bytes",
	      "Heap and private anonymous resident bytes (/proc/PID/smaps)",
	      component, (double)heap, t);
	gauge(&p->points[2], "memory.virtual_bytes",
	      "Virtual size of the process", component, (double)virt, t);
	p->snap.points = p->points;
	p->snap.n_points = AGENT_N_GAUGES;
	p->snap.start_s = p->snap.time_s = t;
}

/* The resource's attributes as labels (service.name and the SDK ones
 * left out: they are the agent's, the same on every series). */
static void agent_proc__labels(struct agent_proc *p)
{
	size_t i;

	p->n_labels = 0;
	for (i = 0; i < p->res.n && p->n_labels < 32; i++) {
		const struct otlp_attr *at = &p->res.attrs[i];

		if (!strcmp(at->key, "service.name") ||
		    !strncmp(at->key, "telemetry.sdk.", 14))
			continue;
		if (!at->str) {
			snprintf(p->pid_str, sizeof(p->pid_str), "%lld",
				 (long long)at->num);
			p->labels[p->n_labels].value = p->pid_str;
		} else {
			p->labels[p->n_labels].value = at->str;
		}
		p->labels[p->n_labels++].key = at->key;
	}
}

/* Append one snapshot's ExportMetricsServiceRequest to *batch: serialized
 * messages concatenated parse as one whose repeated resource_metrics are
 * all of theirs (protobuf's merge rule), so a window is one request. 0 or
 * -errno. */
static int agent__batch_metrics(struct agent *a, const struct mm_snapshot *snap,
				const struct otlp_resource *res,
				uint8_t **batch, size_t *blen)
{
	uint8_t *buf, *nb;
	size_t len;
	int err;

	if (!a->s.exp || !otel_config__enabled(&a->s.otel, OTLP_METRICS))
		return 0;
	err = otlp_metrics__encode(snap, res, &buf, &len);
	if (err)
		return err;
	nb = realloc(*batch, *blen + len);
	if (!nb) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(nb + *blen, buf, len);
	free(buf);
	*batch = nb;
	*blen += len;
	return 0;
}


static double self_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The agent's own figures (points must hold AGENT_N_SELF). */
static size_t agent__self(struct agent *a, struct mm_point *pt, double t)
{
	struct session *s = &a->s;
	struct otlp_export_stats es = { 0 };
	uint64_t cnt[MT_CNT__COUNT] = { 0 }, calls = 0, sampled = 0;
	struct unwind_stats us;
	struct proc_info me;
	double st = a->start_unix;
	size_t n = 0;

	if (s->probes)
		probes__counters(s->probes, cnt, &calls, &sampled);
	if (s->exp)
		otlp_exporter__stats(s->exp, &es);
	if (proc_scan__read(getpid(), &me))
		me.mem.rss_bytes = 0;
	agent__point(&pt[n++], "memtel.agent.events", "{event}", MM_KIND_COUNTER,
	      (double)s->coll.events, st, t, NULL, NULL);
	agent__point(&pt[n++], "memtel.agent.events.dropped", "{event}",
	      MM_KIND_COUNTER, (double)cnt[MT_CNT_RB_DROPS], st, t, "reason",
	      "ring_buffer_full");
	agent__point(&pt[n++], "memtel.agent.stacks.incomplete", "{event}",
	      MM_KIND_COUNTER, (double)cnt[MT_CNT_STACK_FAIL], st, t,
	      "reason", "copy_failed");
	agent__point(&pt[n++], "memtel.agent.stacks.incomplete", "{event}",
	      MM_KIND_COUNTER, (double)cnt[MT_CNT_STACK_SHORT], st, t,
	      "reason", "cut_short");
	agent__point(&pt[n++], "memtel.agent.events.dropped", "{event}",
	      MM_KIND_COUNTER, (double)s->coll.errors, st, t, "reason",
	      "malformed");
	agent__point(&pt[n++], "memtel.agent.exports", "{request}", MM_KIND_COUNTER,
	      (double)es.sent, st, t, "result", "sent");
	agent__point(&pt[n++], "memtel.agent.exports", "{request}", MM_KIND_COUNTER,
	      (double)es.failed, st, t, "result", "failed");
	agent__point(&pt[n++], "memtel.agent.exports", "{request}", MM_KIND_COUNTER,
	      (double)(es.dropped_queue_full + es.dropped_after_retries), st,
	      t, "result", "dropped");
	agent__point(&pt[n++], "memtel.agent.export.retries", "{request}",
	      MM_KIND_COUNTER, (double)es.retried, st, t, NULL, NULL);
	agent__point(&pt[n++], "memtel.agent.export.queued", "{request}",
	      MM_KIND_GAUGE, (double)es.queued, st, t, NULL, NULL);
	agent__point(&pt[n++], "memtel.agent.files.written", "{file}",
	      MM_KIND_COUNTER, (double)a->files_written, st, t, NULL, NULL);
	agent__point(&pt[n++], "memtel.agent.processes", "{process}", MM_KIND_GAUGE,
	      (double)a->processes, st, t, NULL, NULL);
	agent__point(&pt[n++], "memtel.agent.heap_targets", "{process}",
	      MM_KIND_GAUGE, (double)agent_heap__count(a->heap), st, t, NULL,
	      NULL);
	agent__point(&pt[n++], "memtel.agent.heap_targets.refused", "{process}",
	      MM_KIND_COUNTER, (double)agent_heap__refused(a->heap), st, t,
	      "reason", "max_heap_targets");
	agent__point(&pt[n++], "memtel.agent.cpu.time", "s", MM_KIND_COUNTER,
	      self_cpu_s(), st, t, NULL, NULL);
	agent__point(&pt[n++], "memtel.agent.memory.rss", "By", MM_KIND_GAUGE,
	      (double)me.mem.rss_bytes, st, t, NULL, NULL);
	unwind__stats(&us);
	agent__point(&pt[n++], "memtel.agent.unwind.walks", "{stack}",
	      MM_KIND_COUNTER, (double)us.walks, st, t, "path", "cfi_rows");
	agent__point(&pt[n++], "memtel.agent.unwind.walks", "{stack}",
	      MM_KIND_COUNTER, (double)us.fallbacks, st, t, "path", "libdwfl");
	return n;
}

/* The /proc scan: every process counted, the max_processes largest by
 * RSS with gauges of their own, the rest summed as component "other";
 * then the agent's own figures. To OTLP metrics and to the /metrics text.
 * 0 or -errno. */
/* One OTLP metrics request for the window: every process's snapshot
 * under its own resource, then the agent's own. A failure costs this
 * window's export only (counted by the exporter), never the scan. */
static void agent__export_metrics(struct agent *a, struct agent_proc *procs,
				  size_t n, const struct mm_snapshot *self)
{
	uint8_t *batch = NULL;
	size_t blen = 0, i;
	int err = 0;

	for (i = 0; !err && i < n; i++) {
		err = agent__batch_metrics(a, procs[i].out, &procs[i].res,
					   &batch, &blen);
		if (!err && procs[i].self)
			err = agent__batch_metrics(a, procs[i].self,
						   &procs[i].res, &batch,
						   &blen);
	}
	if (!err)
		err = agent__batch_metrics(a, self, &a->self_res, &batch,
					   &blen);
	if (!err && batch) {
		err = otlp_exporter__enqueue(a->s.exp, OTLP_METRICS, batch,
					     blen);
		batch = NULL;
	}
	if (err)
		mt_debug("metrics export: %s", strerror(-err));
	free(batch);
}

/* Render the window as Prometheus text and make it what /metrics serves.
 * 0 or -errno (the previous text stays). */
static int agent__publish_prom(struct agent *a,
			       const struct mm_snapshot **snaps,
			       const struct prom_label **extra,
			       const size_t *n_extra, size_t n,
			       const struct mm_snapshot *self)
{
	struct prom_writer *w;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	f = open_memstream(&text, &len);
	w = f ? prom_writer__new(f) : NULL;
	if (!w) {
		if (f)
			fclose(f);
		free(text);
		return -ENOMEM;
	}
	err = prom_writer__snapshots(w, snaps, extra, n_extra, n) ?:
	      prom_writer__snapshots(w, (const struct mm_snapshot *[]){ self },
				     NULL, NULL, 1) ?:
	      prom_writer__finish(w);
	prom_writer__free(w);
	if (fclose(f) && !err)
		err = -EIO;
	if (!err) {
		pthread_mutex_lock(&a->lock);
		free(a->prom_text);
		a->prom_text = text;
		a->prom_len = len;
		text = NULL;
		pthread_mutex_unlock(&a->lock);
	}
	free(text);
	return err;
}

/* Heap targets first (in RSS order): each has its own series whatever
 * its rank. How many there are. */
static size_t agent__targets_first(struct agent *a, struct proc_info *info,
				   size_t n)
{
	struct proc_info tmp;
	size_t i, k = 0;

	if (!agent_heap__count(a->heap))
		return 0;
	for (i = 0; i < n; i++) {
		if (!agent_heap__snapshot(a->heap, info[i].pid))
			continue;
		tmp = info[i];
		memmove(&info[k + 1], &info[k], (i - k) * sizeof(*info));
		info[k++] = tmp;
	}
	return k;
}

static void heap_memo__free(struct u64map *m)
{
	uint64_t k, v;
	size_t it = 0;

	while (u64map__next(m, &it, &k, &v))
		free((void *)(uintptr_t)v);
	u64map__free(m);
}

static bool near(uint64_t was, uint64_t now)
{
	uint64_t d = was > now ? was - now : now - was;

	return d <= was / AGENT_HEAP_SLACK;
}

/* pi's heap gauge: the last reading while its status has hardly changed
 * (for AGENT_HEAP_REUSE windows), else /proc/PID/smaps; remembered in
 * next. */
static uint64_t agent__heap_bytes(struct agent *a, const struct proc_info *pi,
				  struct u64map *next)
{
	struct proc_mem mem = { 0 };
	struct heap_memo *hm = NULL;
	uint64_t v;

	if (u64map__del(&a->heap_memo, (uint64_t)pi->pid, &v))
		hm = (struct heap_memo *)(uintptr_t)v;
	if (hm && hm->start_ticks == pi->start_ticks &&
	    near(hm->rss, pi->mem.rss_bytes) &&
	    near(hm->virt, pi->mem.virtual_bytes) &&
	    hm->age < AGENT_HEAP_REUSE) {
		hm->age++;
	} else {
		if (procstat__read_mem(pi->pid, &mem))
			mem.allocator_bytes = 0;
		if (!hm)
			hm = malloc(sizeof(*hm));
		if (!hm)
			return mem.allocator_bytes;
		hm->start_ticks = pi->start_ticks;
		hm->rss = pi->mem.rss_bytes;
		hm->virt = pi->mem.virtual_bytes;
		hm->heap = mem.allocator_bytes;
		hm->age = 0;
	}
	v = hm->heap;
	if (u64map__set(next, (uint64_t)pi->pid, (uintptr_t)hm))
		free(hm);
	return v;
}

static int agent__scan(struct agent *a)
{
	size_t top = a->ao->max_processes, n_pids = 0, n = 0, i, k, n_snaps;
	size_t n_heap;
	struct mm_point self_pts[AGENT_N_SELF];
	struct mm_snapshot self = { 0 };
	const struct mm_snapshot **snaps = NULL;
	const struct prom_label **extra = NULL;
	size_t *n_extra = NULL;
	struct agent_proc *procs = NULL, *other;
	struct proc_info *info = NULL;
	struct u64map memo = { 0 };
	uint64_t o_rss = 0, o_virt = 0;
	double t = unix_ns() / 1e9;
	pid_t *pids = NULL;
	int err;

	err = proc_scan__pids(&pids, &n_pids, SCAN_MAX_PIDS);
	if (err)
		goto cleanup;
	info = calloc(n_pids ?: 1, sizeof(*info));
	if (!info) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n_pids; i++)
		if (!proc_scan__read(pids[i], &info[n]))
			n++;
	a->processes = n;
	if (n)
		qsort(info, n, sizeof(*info), cmp_rss);
	n_heap = agent__targets_first(a, info, n);
	top = n_heap + (top < n - n_heap ? top : n - n_heap);
	/* heap targets, top processes, then "other"; a heap target's own
	 * telemetry is one more snapshot */
	procs = calloc(top + 1, sizeof(*procs));
	snaps = calloc(top + 1 + n_heap, sizeof(*snaps));
	extra = calloc(top + 1 + n_heap, sizeof(*extra));
	n_extra = calloc(top + 1 + n_heap, sizeof(*n_extra));
	if (!procs || !snaps || !extra || !n_extra) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < top; i++) {
		struct agent_proc *p = &procs[i];
		uint64_t heap;
		const char *base;
		char link[64];
		ssize_t l;

		p->pi = info[i];
		snprintf(link, sizeof(link), "/proc/%d/exe", (int)p->pi.pid);
		l = readlink(link, p->exe, sizeof(p->exe) - 1);
		p->exe[l > 0 ? l : 0] = '\0';
		heap = agent__heap_bytes(a, &p->pi, &memo);
		base = strrchr(p->exe, '/') ? strrchr(p->exe, '/') + 1 :
					      p->pi.comm;
		err = otlp_resource__build(&p->res, &a->s.otel, p->pi.pid,
					   p->exe[0] ? p->exe : p->pi.comm);
		if (err)
			goto cleanup;
		agent_proc__points(p, base, p->pi.mem.rss_bytes, heap,
				   p->pi.mem.virtual_bytes, t);
		agent_proc__labels(p);
		/* a heap target's gauges are among its 13 metrics */
		p->out = i < n_heap ? agent_heap__snapshot(a->heap, p->pi.pid)
				    : &p->snap;
		p->self = i < n_heap ? agent_heap__self(a->heap, p->pi.pid)
				     : NULL;
	}
	for (k = top; k < n; k++) {
		o_rss += info[k].mem.rss_bytes;
		o_virt += info[k].mem.virtual_bytes;
	}
	other = &procs[top];
	err = otlp_resource__build(&other->res, &a->s.otel, 0, NULL);
	if (err)
		goto cleanup;
	agent_proc__points(other, MM_OTHER, o_rss, 0, o_virt, t);
	agent_proc__labels(other);
	other->out = &other->snap;
	for (i = 0, n_snaps = 0; i <= top; i++) {
		snaps[n_snaps] = procs[i].out;
		extra[n_snaps] = procs[i].labels;
		n_extra[n_snaps++] = procs[i].n_labels;
		if (!procs[i].self)
			continue;
		snaps[n_snaps] = procs[i].self;
		extra[n_snaps] = procs[i].labels;
		n_extra[n_snaps++] = procs[i].n_labels;
	}
	self.points = self_pts;
	self.n_points = agent__self(a, self_pts, t);
	self.start_s = a->start_unix;
	self.time_s = t;
	agent__export_metrics(a, procs, top + 1, &self);
	err = agent__publish_prom(a, snaps, extra, n_extra, n_snaps, &self);
cleanup:
	/* the processes out of the top (or gone) are forgotten */
	heap_memo__free(&a->heap_memo);
	a->heap_memo = memo;
	for (i = 0; procs && i <= top; i++)
		otlp_resource__free(&procs[i].res);
	free(procs);
	free(snaps);
	free(extra);
	free(n_extra);
	free(info);
	free(pids);
	return err;
}

/* The heap targets' window: their metrics for the scan, their heap
 * profiles over OTLP or as files (the newest --keep-files kept). 0 or
 * -errno. */
static int agent__heap_window(struct agent *a, uint64_t now_ns)
{
	struct session *s = &a->s;
	const char *dir = s->pexp ? NULL : s->outdir;
	int err;

	if (!a->heap)
		return 0;
	/* each tracked process is a heap target: its hits and CPU time */
	session__overhead_update(s);
	err = agent_heap__window(a->heap, now_ns / 1e9, dir,
				 &a->files_written);
	if (err)
		mt_err("heap targets window failed: %s", strerror(-err));
	if (dir && dir[0])
		agent__prune(dir, "heap-", a->ao->keep_files);
	return err;
}

/* Close a window: CPU out (OTLP or a file), a fresh CPU model, the heap
 * targets' window, the scan. 0 or the first -errno. */
static int agent__window(struct agent *a, uint64_t *from_ns)
{
	struct session *s = &a->s;
	uint64_t now = unix_ns();
	int err, e2;

	if (s->pexp)
		err = profile_export__window(s->pexp, now);
	else
		err = agent__write_cpu(a, *from_ns, now);
	if (err)
		mt_err("CPU profiles window failed: %s", strerror(-err));
	e2 = agent__reset_cpu(a, now);
	if (e2)
		mt_err("cannot start the next CPU window: %s", strerror(-e2));
	err = err ?: e2;
	*from_ns = now;
	e2 = agent__heap_window(a, now);
	err = err ?: e2;
	e2 = agent__scan(a);
	if (e2)
		mt_err("process scan failed: %s", strerror(-e2));
	err = err ?: e2;
	a->scanned = a->scanned || !e2;
	/* the window's model and the targets reaped since are freed: give
	 * the pages back, or the heap keeps the high-water mark of the
	 * busiest window (glibc trims only the top of the heap by itself) */
	malloc_trim(0);
	a->window_ok = !err;
	a->windows++;
	if (err)
		a->windows_failed++;
	agent__update_ready(a);
	return err;
}

/* Drain and tick until a signal or a read error; a window every
 * interval. 0 or EXIT_RUNTIME. */
static int agent__loop(struct agent *a)
{
	struct session *s = &a->s;
	/* 25 ms: 99 Hz on every CPU fills the ring by a few records per
	 * CPU in it, and each wakeup costs the agent ~20 us on a VM; 10 ms
	 * with heap targets, whose budget ticks every 20 ms */
	long nap_ns = (a->heap ? 10 : 25) * 1000 * 1000L;
	uint64_t interval = (uint64_t)s->otel.interval_ms * 1000000ULL;
	uint64_t next_window = clock__mono_ns() + interval;
	uint64_t next_reap = clock__mono_ns() + AGENT_REAP_NS;
	uint64_t from = unix_ns(), stop;
	int rc = 0;

	while (!session__stopping()) {
		int n = probes__drain(s->probes);

		http_server__tick(a->http);
		if (n < 0 && n != -EINTR) {
			mt_err("reading events failed: %s", strerror(-n));
			a->attached = false;
			agent__update_ready(a);
			rc = EXIT_RUNTIME;
			break;
		}
		if (a->heap)
			agent_heap__poll(a->heap);
		if (clock__mono_ns() >= next_reap) {
			targets__reap(s->targets, 0);
			next_reap = clock__mono_ns() + AGENT_REAP_NS;
		}
		if (clock__mono_ns() >= next_window) {
			agent__window(a, &from);
			next_window = clock__mono_ns() + interval;
		}
		if (n < 64)	/* a new process's first sample ends it */
			(void)probes__nap(s->probes, nap_ns);
	}
	/* the final export: what is in the ring (for at most half a second:
	 * a host busier than we can follow must not hold the stop), the last
	 * window, then the queue under a deadline */
	for (stop = clock__mono_ns() + 500000000ULL;
	     probes__drain(s->probes) > 0 && clock__mono_ns() < stop;)
		;
	agent__window(a, &from);
	if (s->exp && otlp_exporter__flush(s->exp, SESSION_FLUSH_DEADLINE_MS))
		mt_err("OTLP: some exports could not be delivered within %d ms",
		       SESSION_FLUSH_DEADLINE_MS);
	return rc;
}

/* k8s.node.name from $NODE_NAME (the downward API), unless
 * OTEL_RESOURCE_ATTRIBUTES already says it. 0 or -ENOMEM. */
static int agent__node_name(struct otel_config *c)
{
	const char *node = getenv("NODE_NAME");
	struct otel_kv *kv;
	size_t i;

	if (!node || !*node)
		return 0;
	for (i = 0; i < c->n_resource_attrs; i++)
		if (!strcmp(c->resource_attrs[i].key, "k8s.node.name"))
			return 0;
	kv = realloc(c->resource_attrs,
		     (c->n_resource_attrs + 1) * sizeof(*kv));
	if (!kv)
		return -ENOMEM;
	c->resource_attrs = kv;
	kv = &kv[c->n_resource_attrs];
	kv->key = strdup("k8s.node.name");
	kv->value = strdup(node);
	if (!kv->key || !kv->value) {
		free(kv->key);
		free(kv->value);
		return -ENOMEM;
	}
	c->n_resource_attrs++;
	return 0;
}

static uint32_t agent_ring_bytes(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	uint32_t want = cpus > 0 && cpus < 1024 ? (uint32_t)cpus << 21 : 0;
	uint32_t r = AGENT_RING_MIN;

	while (r < want && r < AGENT_RING_MAX)
		r <<= 1;
	return r;
}

/* The heap targets, when --heap-target names any. 0 or the exit
 * status. */
static int agent__start_heap(struct agent *a)
{
	struct session *s = &a->s;
	const struct options *o = s->o;
	struct agent_heap_opts ho = {
		.sel = a->ao->heap_targets,
		.max_targets = a->ao->max_heap_targets,
		.sample_bytes = o->sample_bytes, .leak_age_s = o->leak_age,
		.probes = s->probes, .targets = s->targets, .symdb = s->symdb,
		.ksyms = s->ksyms, .coll = &s->coll, .otel = &s->otel,
		.exp = s->exp, .profiles = s->pexp != NULL,
		.start_unix = a->start_unix,
		.max_overhead = options__max_overhead(o),
		.interval_s = s->otel.interval_ms / 1000.0,
	};
	char what[96];
	size_t i;

	if (!ho.sel || !ho.sel->n)
		return 0;
	/* the heap probes' cost per hit, for each target's estimate */
	s->heap = true;
	if (session__calibrate(s))
		return EXIT_RUNTIME;
	ho.ovh = s->ovh;
	s->coll.sample_mean = o->sample_bytes;
	s->coll.op_name = allocator__op_name;
	a->heap = agent_heap__new(&ho);
	if (!a->heap) {
		mt_err("cannot start the heap targets: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	for (i = 0; i < ho.sel->n; i++)
		mt_info("heap target selector %s",
			selector__format(&ho.sel->sel[i], what, sizeof(what)));
	mt_info("%zu heap target(s) attached at start (at most %u at once)",
		agent_heap__count(a->heap), ho.max_targets);
	return 0;
}

int agent__run(struct agent_options *ao)
{
	struct agent a = { .ao = ao, .s = { .o = &ao->base } };
	struct http_server_opts ho = {
		.listen = ao->listen, .render_metrics = agent__render,
		.ctx = &a, .metrics_content_type = PROM_CONTENT_TYPE,
	};
	struct session *s = &a.s;
	char exe[PATH_MAX] = "";
	ssize_t l;
	int rc;

	session__setup_process(ao->base.verbose);
	pthread_mutex_init(&a.lock, NULL);
	s->cpu = true;
	s->ring_bytes = agent_ring_bytes();
	a.start_unix = unix_ns() / 1e9;
	rc = session__load_otel(&ao->base, &s->otel);
	if (rc)
		goto cleanup;
	if (agent__node_name(&s->otel)) {
		mt_err("out of memory");
		rc = EXIT_RUNTIME;
		goto cleanup;
	}
	/* the endpoint first: /healthz answers and /readyz says 503 while
	 * BPF loads */
	a.http = http_server__start(&ho);
	if (!a.http) {
		mt_err("cannot listen on %s: %s",
		       ao->listen ? ao->listen : HTTP_DEFAULT_LISTEN,
		       strerror(errno));
		rc = errno == EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
		goto cleanup;
	}
	mt_info("serving /metrics, /healthz, /readyz on port %d",
		http_server__port(a.http));
	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[l > 0 ? l : 0] = '\0';
	/* heap targets: the kernel reports their forks and execs */
	ao->base.children = ao->heap_targets && ao->heap_targets->n;
	rc = session__check(s) ?: session__build(s) ?:
	     session__start_otlp(s) ?: session__attach(s, NULL, NULL, 0) ?:
	     agent__start_heap(&a);
	if (!rc && otlp_resource__build(&a.self_res, &s->otel, getpid(), exe)) {
		mt_err("out of memory");
		rc = EXIT_RUNTIME;
	}
	if (rc)
		goto cleanup;
	if (!s->exp && !s->outdir[0])
		mt_info("no OTLP endpoint and no -o DIR: CPU profiles are not kept; /metrics only");
	a.attached = true;
	a.window_ok = true;
	if (agent__scan(&a))
		mt_err("process scan failed");
	else
		a.scanned = true;
	agent__update_ready(&a);
	rc = agent__loop(&a);
	mt_info("stopped after %llu windows (%llu failed)",
		(unsigned long long)a.windows,
		(unsigned long long)a.windows_failed);

cleanup:
	http_server__stop(a.http);
	/* before the probes and the collector it is hooked into */
	agent_heap__free(a.heap);
	session__free(s);
	otlp_resource__free(&a.self_res);
	heap_memo__free(&a.heap_memo);
	free(a.prom_text);
	pthread_mutex_destroy(&a.lock);
	return rc;
}

int agent__main(int argc, char **argv)
{
	struct agent_options ao;
	int rc;

	agent_options__init(&ao);
	rc = agent_options__parse(&ao, argc, argv);
	if (rc == 1)
		rc = 0;
	else if (rc)
		rc = EXIT_USAGE;
	else
		rc = agent__run(&ao);
	agent_options__free(&ao);
	return rc;
}
