// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * session.c - a memtel-bpf session. Usage problems (a pid that is gone, an
 * output directory we cannot write) are found before anything is attached
 * or launched and exit EXIT_USAGE; runtime failures exit EXIT_RUNTIME and
 * still write whatever was collected. At the end the local files come
 * first and the OTLP flush last, under SESSION_FLUSH_DEADLINE_MS: a
 * collector that never answers cannot cost the files.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "attach/allocator.h"
#include "attach/launch.h"
#include "attach/probes.h"
#include "attach/proctree.h"
#include "attach/usdt.h"
#include "cli/session.h"
#include "cli/session_parts.h"
#include "cli/status.h"
#include "model/cpustate.h"
#include "model/heapstate.h"
#include "model/memmetrics.h"
#include "model/overhead.h"
#include "model/stacks.h"
#include "process/elfinfo.h"
#include "process/procstat.h"
#include "process/target.h"
#include "process/targets.h"
#include "sinks/file/cpu_report.h"
#include "sinks/file/heap_report.h"
#include "sinks/otlp/profile_export.h"
#include "sinks/telemetry.h"
#include "symbolize/ksyms.h"
#include "symbolize/symdb.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/random.h"

#define CAP_SYS_ADMIN_ 21
#define CAP_PERFMON_ 38
#define CAP_BPF_ 39

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

/* A child's state changed (a tracee's ptrace stop, an exit): only to cut
 * the loop's nap short, so that a stopped tracee waits for no timer.
 * signal() installs it with SA_RESTART; sleeps alone return early. */
static void on_child(int sig)
{
	(void)sig;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	(void)level;
	if (!mt_verbose)
		return 0;
	mt_status_clear();
	return vfprintf(stderr, fmt, ap);
}

void session__setup_process(bool verbose)
{
	mt_verbose = verbose;
	libbpf_set_print(libbpf_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, on_child);
}

bool session__stopping(void)
{
	return exiting;
}

/* Processes seen, for the status line; past this many the count stops
 * growing rather than the map. */
#define SESSION_MAX_PIDS 65536

/* Every event goes to the collector; the session only notes its process
 * (most events come from the process of the one before). */
static int session__on_event(void *ctx, void *data, size_t size)
{
	const struct mt_event_hdr *h = data;
	struct session *s = ctx;

	if (s->status && size >= sizeof(*h) && h->pid != s->last_pid) {
		s->last_pid = h->pid;
		if (s->pids.len < SESSION_MAX_PIDS)
			u64map__set(&s->pids, h->pid, 1);
	}
	return collector__on_event(&s->coll, data, size);
}

static int64_t wall_ns(void)
{
	return (int64_t)clock__real_ns();
}

/* OTEL_* environment, then the command line over it. 0, or the exit
 * status after printing the one-line reason. */
static int load_otel(const struct options *o, struct otel_config *c)
{
	char err[512] = "";
	int i, rc;

	rc = otel_config__load(c, err, sizeof(err));
	if (!rc && o->otlp_endpoint)
		rc = otel_config__set_endpoint(c, o->otlp_endpoint, err,
					       sizeof(err));
	for (i = 0; !rc && i < o->n_otlp_headers; i++)
		rc = otel_config__add_header(c, o->otlp_headers[i], err,
					     sizeof(err));
	if (!rc && o->otlp_compression)
		rc = otel_config__set_compression(c, o->otlp_compression, err,
						  sizeof(err));
	if (!rc && o->otlp_protocol)
		rc = otel_config__set_protocol(c, o->otlp_protocol, err,
					       sizeof(err));
	if (!rc && o->otlp_timeout_ms)
		rc = otel_config__set_timeout_ms(c, o->otlp_timeout_ms);
	if (!rc && o->export_interval > 0)
		rc = otel_config__set_interval_ms(c,
			(int)(o->export_interval * 1000 + 0.5) ?: 1);
	if (!rc && o->service_name)
		rc = otel_config__set_service_name(c, o->service_name);
	if (rc == -ENOMEM) {
		mt_err("out of memory");
		return EXIT_RUNTIME;
	}
	if (rc) {
		mt_err("%s", err[0] ? err : "invalid OpenTelemetry configuration");
		return EXIT_USAGE;
	}
	return 0;
}

int session__load_otel(const struct options *o, struct otel_config *c)
{
	return load_otel(o, c);
}

/* Prove we can create files in dir the way every sink does (a new
 * temporary name, O_EXCL|O_NOFOLLOW, then removed): nothing already in
 * dir is opened, so a planted link is never followed. 0 or -errno. */
static int outdir__probe(const char *dir)
{
	char path[PATH_MAX];
	struct outfile of;
	int err;

	if (snprintf(path, sizeof(path), "%s/.memtel-write-test", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	err = outfile__open(&of, path);
	if (err)
		return err;
	outfile__discard(&of);
	return 0;
}

/* -o DIR: create it and its parents where missing (mode 0755), then
 * probe it. 0 or -errno. */
static int outdir__prepare(const char *dir)
{
	char path[PATH_MAX], *s;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (s = path + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return outdir__probe(path);
}

/* The default ./memtel-PID-YYYYmmdd-HHMMSS-XXXXXX: the random suffix makes
 * the name unpredictable, and mkdir fails if anything stands there (a
 * directory or link planted by someone else is never reused). 0 or
 * -errno. */
static int outdir__create_default(char *buf, size_t len, pid_t pid)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
	unsigned char r[6];
	char stamp[32], sfx[sizeof(r) + 1];
	time_t now = time(NULL);
	struct tm tm;
	size_t i;
	int err;

	err = random__bytes(r, sizeof(r));
	if (err)
		return err;
	for (i = 0; i < sizeof(r); i++)
		sfx[i] = digits[r[i] & 31];
	sfx[sizeof(r)] = '\0';
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	if (snprintf(buf, len, "memtel-%d-%s-%s", pid, stamp, sfx) >= (int)len)
		return -ENAMETOOLONG;
	if (mkdir(buf, 0755))
		return -errno;
	return outdir__probe(buf);
}

static bool has_cap(uint64_t eff, unsigned int cap)
{
	return (eff >> cap) & 1;
}

static bool privileged(void)
{
	uint64_t eff;

	if (procstat__self_caps(&eff))
		return false;
	return has_cap(eff, CAP_SYS_ADMIN_) ||
	       (has_cap(eff, CAP_BPF_) && has_cap(eff, CAP_PERFMON_));
}

/* The checks made before anything is attached or started. 0 or the exit
 * status. */
int session__check(struct session *s)
{
	const struct options *o = s->o;
	int err;

	for (int i = 0; i < o->n_pids; i++) {
		err = procstat__pid_state(o->pids[i]);
		if (err == -ESRCH) {
			mt_err("no such process: %d", o->pids[i]);
			return EXIT_USAGE;
		}
		if (err == -ECHILD) {
			mt_err("process %d has exited", o->pids[i]);
			return EXIT_USAGE;
		}
	}
	s->pid = o->pid;
	if (o->outdir) {
		snprintf(s->outdir, sizeof(s->outdir), "%s", o->outdir);
		err = outdir__prepare(s->outdir);
		if (err) {
			mt_err("cannot write to output directory %s: %s",
			       s->outdir, strerror(-err));
			return EXIT_USAGE;
		}
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		mt_err("this kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE BPF needs CONFIG_DEBUG_INFO_BTF=y");
		return EXIT_RUNTIME;
	}
	if (!privileged()) {
		mt_err("permission denied: loading BPF needs CAP_BPF and CAP_PERFMON (or root)");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* -- COMMAND: start it stopped at exec; then the default output
 * directory, named after its pid. 0 or the exit status. */
static int session__launch(struct session *s)
{
	const struct options *o = s->o;
	int err;

	if (o->command) {
		char *saved = NULL;

		/* --sampler: the child (only) gets libmemtel-sampler.so */
		if (o->sampler && (err = usdt__preload(&saved))) {
			mt_err("--sampler: cannot find %s (MEMTEL_SAMPLER_LIB names it): %s",
			       USDT_SAMPLER_LIB, strerror(-err));
			return EXIT_RUNTIME;
		}
		err = launch__start(o->command, &s->pid);
		if (o->sampler)
			usdt__preload_restore(saved);
		if (err) {
			mt_err("cannot run '%s': %s", o->command[0],
			       strerror(-err));
			return EXIT_USAGE;
		}
		s->launched = true;
		s->child_alive = true;
	}
	if (!o->outdir) {
		err = outdir__create_default(s->outdir, sizeof(s->outdir),
					     s->pid);
		if (err) {
			mt_err("cannot create output directory %s: %s",
			       s->outdir, strerror(-err));
			return EXIT_USAGE;
		}
	}
	return 0;
}

/* The target's allocator; a launched one is first run until its libraries
 * are mapped. 0 or the exit status. */
static int session__find_allocator(struct session *s, struct allocator *a)
{
	const struct options *o = s->o;
	int err;

	if (!s->launched) {
		err = allocator__find(s->pid, a);
	} else {
		/* stopped right after exec: run to where its libraries are
		 * mapped, as every exec'd process of the tree later */
		err = proctree__resolve_at_exec(s->pid, a);
		if (err == -ESRCH) {
			mt_err("%s exited during startup", o->command[0]);
			return EXIT_RUNTIME;
		}
		if (err && err != -ENOENT) {
			mt_err("%s did not finish loading its libraries: %s",
			       o->command[0], strerror(-err));
			return EXIT_RUNTIME;
		}
	}
	if (err == -ESRCH) {
		mt_err("process %d exited before probes were attached", s->pid);
		return EXIT_RUNTIME;
	}
	if (err == -ENOENT) {
		/* no C heap (a pure Go program, or a stripped static one):
		 * the CPU profile, the memory metrics and, for Go, the Go
		 * runtime's heap still work; session__find_go says which */
		a->path[0] = '\0';
		return 0;
	}
	if (err) {
		mt_err("cannot inspect process %d: %s", s->pid, strerror(-err));
		return EXIT_RUNTIME;
	}
	return 0;
}

/* The Go runtime's heap hooks, if the target is a Go program; one warning
 * line when there is no heap to profile at all or only part of it.
 * has_c: a C allocator was found. */
static void session__find_go(struct session *s, bool has_c)
{
	int err = golang__find(s->pid, &s->go);

	if (err == -ENOTSUP) {
		mt_info("warning: the Go heap of process %d is not profiled: its runtime predates Go 1.17's register ABI%s",
			s->pid, has_c ? "" : ": CPU profile and memory metrics only");
		return;
	}
	if (err) {
		if (!has_c)
			mt_info("warning: no recognised allocator in process %d: no mapped file defines malloc and free, and it is not a Go program with symbols (stripped static binary?): CPU profile and memory metrics only",
				s->pid);
		return;
	}
	s->go_found = true;
	if (!golang__profiling_enabled(s->pid, &s->go)) {
		mt_info("warning: the Go heap of process %d is not profiled: its binary has Go's memory profiler compiled out (nothing references runtime.MemProfile; importing runtime/pprof keeps it)%s",
			s->pid, has_c ? "" : ": CPU profile and memory metrics only");
		return;
	}
	s->go_heap = true;
	if (!has_c)
		mt_info("warning: process %d has no C allocator (a pure Go program): its heap comes from the Go runtime's own sampling (one allocation per runtime.MemProfileRate bytes, 512 KiB by default)",
			s->pid);
}

/* The models and the symbolizer the collector feeds. 0 or the exit
 * status. */
int session__build(struct session *s)
{
	const struct options *o = s->o;

	if (s->cpu && !o->no_kernel) {
		s->ksyms = ksyms__load(NULL);
		if (!s->ksyms)
			mt_debug("no kernel symbols (/proc/kallsyms): %s",
				 strerror(errno));
	}
	s->symdb = symdb__new();
	s->targets = s->symdb ? targets__new(s->pid && !o->children &&
					     !s->launched ? 64 : 4096)
			      : NULL;
	s->syms = s->targets ? symcache__new(s->targets, s->ksyms, s->symdb)
			     : NULL;
	s->stacks = stacks__new();
	s->heapst = s->heap ? heapstate__new(o->sample_bytes) : NULL;
	s->cpust = s->cpu ? cpustate__new() : NULL;
	if (!s->targets || !s->syms || !s->stacks || (s->heap && !s->heapst) ||
	    (s->cpu && !s->cpust) ||
	    collector__init(&s->coll, s->targets, s->stacks, s->heapst,
			    s->cpust, s->syms)) {
		mt_err("out of memory");
		return EXIT_RUNTIME;
	}
	s->coll_ready = true;
	return 0;
}

/* The OTLP exporter and the profiles sink, when configured. 0 or the exit
 * status. */
int session__start_otlp(struct session *s)
{
	const struct options *o = s->o;
	struct profile_export_opts pe = {
		.otel = &s->otel, .stacks = s->stacks, .syms = s->syms,
		.targets = s->targets, .heap = s->heapst, .cpu = s->cpust,
		.pid = s->pid, .freq = o->freq, .sample_bytes = o->sample_bytes,
	};
	char url[512];

	if (!otel_config__enabled(&s->otel, OTLP_METRICS) &&
	    !otel_config__enabled(&s->otel, OTLP_PROFILES))
		return 0;
	s->exp = otlp_exporter__new(&s->otel, 64);
	if (!s->exp) {
		mt_err("cannot start the OTLP exporter: %s", strerror(errno));
		return EXIT_RUNTIME;
	}
	if (!otel_config__enabled(&s->otel, OTLP_PROFILES))
		return 0;
	pe.exp = s->exp;
	pe.start_unix_ns = (uint64_t)wall_ns();
	s->pexp = profile_export__new(&pe);
	if (!s->pexp) {
		mt_err("out of memory");
		return EXIT_RUNTIME;
	}
	otel_redact_url(s->otel.signal[OTLP_PROFILES].url, url, sizeof(url));
	mt_info("exporting profiles to %s every %d ms", url,
		s->otel.interval_ms);
	return 0;
}

/* The memory metrics model and its sink (OTLP or metrics.jsonl). 0 or
 * the exit status. */
static int session__start_metrics(struct session *s)
{
	const struct options *o = s->o;
	struct telemetry_opts to = {
		.otel = &s->otel, .exp = s->exp, .outdir = s->outdir,
		.pid = s->pid, .leak_age_s = o->leak_age, .heap = s->heapst,
		.stacks = s->stacks, .syms = s->syms,
		.session_id = s->session_id,
	};
	char exe[PATH_MAX] = "", link[64], url[512], hdrs[512];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", s->pid);
	n = readlink(link, exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
	to.exe_path = exe;
	if (random__uuid4(s->session_id))
		snprintf(s->session_id, sizeof(s->session_id), "%d-%lld",
			 getpid(), (long long)time(NULL));
	s->mm = memmetrics__new(s->session_id, base[0] ? base : "unknown",
				o->leak_age, wall_ns() / 1e9);
	to.mm = s->mm;
	s->tel = s->mm ? telemetry__new(&to) : NULL;
	if (!s->tel) {
		mt_err("cannot start the metrics exporter: %s",
		       strerror(errno));
		return EXIT_RUNTIME;
	}
	s->coll.mm = s->mm;
	s->coll.sample_mean = o->sample_bytes;
	s->coll.op_name = allocator__op_name;
	if (otel_config__enabled(&s->otel, OTLP_METRICS)) {
		otel_redact_url(s->otel.signal[OTLP_METRICS].url, url,
				sizeof(url));
		otel_config__redacted_headers(&s->otel, OTLP_METRICS, hdrs,
					      sizeof(hdrs));
		mt_info("exporting metrics to %s every %d ms (headers: %s)",
			url, s->otel.interval_ms, hdrs);
	}
	return 0;
}

/* Launch mode: pid is stopped at exit with its memory mapped: take its
 * last events and any library mapped late (and, for the session's
 * process, a last metrics window). */
static void session__on_exiting(void *ctx, pid_t pid)
{
	struct session *s = ctx;
	struct target *t = targets__find(s->targets, pid);

	probes__drain_all(s->probes);
	if (t)
		target__refresh(t, true);
	else	/* exited before it was opened after its exec */
		targets__get(s->targets, pid);
	probes__drain_all(s->probes);
	session__overhead_update(s);
	if (s->tel && pid == s->pid)
		telemetry__window(s->tel, wall_ns() / 1e9);
}

/* The process tree: the first target (attached by session__attach), the
 * other --pid targets, and with --children their descendants. 0 or
 * -errno (reported). */
static int session__start_tree(struct session *s, const struct allocator *a)
{
	const struct options *o = s->o;
	struct proctree_opts to = {
		.probes = s->probes, .sample_bytes = o->sample_bytes,
		.targets = s->targets, .heap = s->heap,
		.launched = s->launched, .children = o->children,
		.on_exiting = session__on_exiting, .ctx = s,
	};
	int i, err = 0;

	s->tree = proctree__new(&to);
	if (!s->tree) {
		mt_err("out of memory");
		return -ENOMEM;
	}
	s->coll.on_proc = proctree__on_proc;
	s->coll.proc_ctx = s->tree;
	/* the first target's probes are attached already */
	for (i = 0; !err && i < (o->n_pids ? o->n_pids : 1); i++) {
		pid_t pid = o->n_pids ? o->pids[i] : s->pid;

		err = pid == s->pid ?
			proctree__add_attached(s->tree, pid, s->heap ? a : NULL,
					       s->heap_usdt ? PROCTREE_HEAP_USDT :
					       s->alloc_sampled ?
					       PROCTREE_HEAP_SAMPLED :
					       PROCTREE_HEAP_CALLS) :
			proctree__add(s->tree, pid, NULL);
	}
	for (i = 0; !err && o->children && i < o->n_pids; i++) {
		err = proctree__add_descendants(s->tree, o->pids[i]);
		if (err > 0)
			mt_info("following %d existing descendants of pid %d",
				err, o->pids[i]);
		err = err < 0 ? err : 0;
	}
	if (err)
		mt_err("cannot track the processes to profile: %s",
		       strerror(-err));
	return err;
}

/* An allocator running its own sampler: probe only its sampled path
 * (attach/allocsample.c). True if that replaced the malloc/free probes;
 * otherwise one warning when the sampler is on but cannot be hooked. */
static bool session__attach_allocsample(struct session *s,
					const struct allocator *a)
{
	char what[96];
	int err;

	/* --sample-bytes 1 asks for every allocation: the full probes */
	if (!s->heap || !a->path[0] || s->o->sample_bytes <= 1 ||
	    allocsample__find(s->pid, a, &s->asamp) ||
	    s->asamp.state == ALLOCSAMPLE_OFF)
		return false;
	allocsample__describe(&s->asamp, what, sizeof(what));
	if (s->asamp.state == ALLOCSAMPLE_UNHOOKABLE) {
		/* a preloaded sampler cannot interpose on a malloc the
		 * executable defines */
		mt_info("warning: %s is on in pid %d but cannot be hooked (%s): probing every malloc/free instead%s",
			what, s->pid, s->asamp.why,
			strcmp(a->kind, "executable") ?
			" (in launch mode --sampler samples in-process without a trap per call)" : "");
		return false;
	}
	err = probes__attach_allocsample(s->probes, s->pid, &s->asamp);
	if (err < 0) {
		mt_info("warning: cannot attach to the sampled path of %s (%s): probing every malloc/free instead",
			a->path, strerror(-err));
		return false;
	}
	mt_info("attached %d probes to the sampled path of %s in pid %d: %s samples, malloc/free are not probed",
		err, a->path, s->pid, what);
	s->alloc_sampled = true;
	return true;
}

/* Load the BPF programs and attach the heap probes and the CPU sampler.
 * 0 or the exit status. */
int session__attach(struct session *s, struct allocator *a,
			   const struct probe_point *pts, size_t n_pts)
{
	const struct options *o = s->o;
	struct probes_opts po = {
		.pid = s->pid, .sample_bytes = o->sample_bytes,
		.stack_bytes = o->stack_bytes, .cpu = s->cpu,
		.cpu_all = o->all, .kernel_stacks = !o->no_kernel,
		.follow = s->launched || o->children,
		.ring_bytes = s->ring_bytes,
		.on_event = session__on_event, .ctx = s,
	};
	bool usdt = false;
	int err;

	s->probes = probes__load(&po);
	if (!s->probes) {
		err = errno;
		if (err == EPERM || err == EACCES)
			mt_err("permission denied loading BPF: need CAP_BPF and CAP_PERFMON (or root)");
		else
			mt_err("cannot load BPF programs: %s%s", strerror(err),
			       mt_verbose ? "" : " (-v shows libbpf's log)");
		return EXIT_RUNTIME;
	}
	if (s->heap) {
		struct bpfunwind_maps um;

		if (!probes__unwind_maps(s->probes, &um)) {
			s->bu = bpfunwind__new(&um);
			if (!s->bu) {
				mt_err("out of memory");
				return EXIT_RUNTIME;
			}
			s->coll.bu = s->bu;
		}
	}
	if (session__calibrate(s))
		return EXIT_RUNTIME;
	if (s->go_found && collector__add_go(&s->coll, (uint32_t)s->pid))
		return EXIT_RUNTIME;
	collector__prepare(&s->coll, (uint32_t)s->pid);
	if (s->go_heap) {
		err = probes__attach_go(s->probes, s->pid, &s->go);
		if (err < 0) {
			mt_err("cannot attach the Go runtime probes to %s in process %d: %s",
			       s->go.path, s->pid, strerror(-err));
			return EXIT_RUNTIME;
		}
		mt_info("attached %d Go runtime heap probes to %s in pid %d",
			err, s->go.path, s->pid);
	}
	if (s->heap) {
		/* a program that samples in-process: its otel_memory probes
		 * instead of malloc/free (attach/usdt.c) */
		err = usdt__attach(s->probes, s->pid);
		if (err < 0 || (err == 0 && o->sampler)) {
			mt_err("cannot attach otel_memory probes in process %d: %s",
			       s->pid, err ? strerror(-err)
					   : "none found (LD_PRELOAD ignored: setuid or static program?)");
			return EXIT_RUNTIME;
		}
		if (err)
			mt_info("attached otel_memory USDT probes in %d file(s) of pid %d: the program samples in-process, malloc/free are not probed",
				err, s->pid);
		usdt = err > 0;
		s->heap_usdt = usdt;
	}
	if (s->heap && n_pts && !usdt && !session__attach_allocsample(s, a)) {
		err = probes__attach(s->probes, a, pts, n_pts);
		if (err < 0) {
			mt_err("cannot attach probes to %s in process %d: %s",
			       a->path, s->pid, strerror(-err));
			return EXIT_RUNTIME;
		}
		mt_info("attached %d heap probes to %s (%s) in pid %d (%s)",
			err, a->path, a->kind, s->pid,
			probes__session(s->probes) ? "uprobe session"
						   : "uprobes + uretprobes");
	}
	if (s->pid && session__start_tree(s, a))
		return EXIT_RUNTIME;
	if (session__budget_start(s))
		return EXIT_RUNTIME;
	if (s->cpu) {
		s->n_cpus = probes__attach_cpu(s->probes, o->freq,
					       &s->cpu_event);
		if (s->n_cpus < 0) {
			mt_err("cannot open the CPU sampler: %s",
			       strerror(-s->n_cpus));
			return EXIT_RUNTIME;
		}
		mt_info("attached CPU sampler (%s, %u Hz, %d CPUs) for %s",
			s->cpu_event, o->freq, s->n_cpus,
			o->all ? "all processes" : "the target");
	}
	/* the targets' hits and CPU so far: the estimate starts here */
	session__overhead_update(s);
	/* our own programs (and any loaded since) are in kallsyms now:
	 * a sample landing in one gets its name */
	err = s->ksyms ? ksyms__reload(s->ksyms, NULL) : 0;
	if (err)
		mt_debug("cannot reload /proc/kallsyms: %s", strerror(-err));
	if (s->outdir[0])
		mt_info("attached; writing to %s/", s->outdir);
	else	/* the agent with an OTLP endpoint and no -o */
		mt_info("attached; no local files");
	return 0;
}

/* The probes' counters now, and what was dropped anywhere. */
static void session__counts(struct session *s, struct session_counts *c)
{
	memset(c, 0, sizeof(*c));
	if (s->probes)
		probes__counters(s->probes, c->cnt, &c->calls, &c->sampled);
	c->dropped = c->cnt[MT_CNT_RB_DROPS] + c->cnt[MT_CNT_LIVE_FULL] +
		     c->cnt[MT_CNT_TID_FULL] + s->coll.orphans + s->coll.errors +
		     c->cnt[MT_CNT_TARGETS_FULL] + c->cnt[MT_CNT_PROC_DROPS];
}

/* "Never silent": a whole window in which the heap probes saw not one
 * call is said once per such streak, with what usually causes it. */
static void session__check_silence(struct session *s)
{
	struct session_counts c;
	unsigned int paused;

	if (!s->heap || !s->probes)
		return;
	session__counts(s, &c);
	/* the Go runtime's own samples count as calls seen */
	c.calls += s->coll.go_samples + s->coll.allocator_samples;
	if (c.calls != s->window_calls) {
		s->window_calls = c.calls;
		s->silence_told = false;
		return;
	}
	if (s->silence_told)
		return;
	s->silence_told = true;
	if (s->alloc_sampled) {
		mt_info("no sampled allocation in the last %.3g s: the target allocated less than the allocator's sampling period (%lld bytes), or is idle",
			s->otel.interval_ms / 1000.0,
			(long long)s->asamp.period);
		return;
	}
	/* the budget paused the probes: nothing to see is expected */
	if (session__budget_partial(s, &paused) && paused)
		return;
	mt_info("no allocation calls seen in the last %.3g s: the target may allocate through an allocator that is not probed (statically linked? a custom arena?) or be idle",
		s->otel.interval_ms / 1000.0);
}

/* Redraw the status line when one is due. */
static void session__status(struct session *s)
{
	struct status_figures f = { .heap = s->heap, .cpu = s->cpu };
	struct session_counts c;
	struct heap_totals tot;
	struct winsize ws;
	uint64_t now = clock__mono_ns();
	unsigned int paused;
	char line[512];

	if (!s->status || now < s->next_status)
		return;
	s->next_status = now + STATUS_REFRESH_NS;
	session__counts(s, &c);
	f.elapsed_s = (double)(now - s->start_mono) / 1e9;
	f.processes = s->pids.len;
	if (!f.processes && s->pid && (!s->launched || s->child_alive))
		f.processes = 1;
	f.calls = c.calls;
	f.sampled = c.sampled;
	if (s->heapst) {
		heapstate__totals(s->heapst, &tot);
		f.live_bytes = tot.inuse_bytes;
	}
	f.cpu_samples = s->cpust ? cpustate__total(s->cpust) : 0;
	f.dropped = c.dropped;
	if (session__budget_partial(s, &paused)) {
		f.partial = true;
		f.on_fraction = session__budget_on_fraction(s);
	}
	f.paused = paused;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) || !ws.ws_col)
		ws.ws_col = 0;
	mt_status(status__format(&f, ws.ws_col, line, sizeof(line)));
}

/* Close a metrics/profiles export window when one is due. */
static void session__window(struct session *s, uint64_t *next_window,
			    uint64_t interval)
{
	int err;

	if ((!s->tel && !s->pexp) || clock__mono_ns() < *next_window)
		return;
	session__check_silence(s);
	session__overhead_update(s);
	err = s->tel ? telemetry__window(s->tel, wall_ns() / 1e9) : 0;
	if (err)
		mt_err("metrics window failed: %s", strerror(-err));
	err = s->pexp ? profile_export__window(s->pexp, (uint64_t)wall_ns())
		      : 0;
	if (err)
		mt_err("profiles window failed: %s", strerror(-err));
	*next_window = clock__mono_ns() + interval;
}

/* Has every target gone? The tree follows forks, execs and exits
 * (session__on_exiting takes a launched process's last events); the
 * session is named after the last program exec'd in it. */
static bool session__target_gone(struct session *s)
{
	size_t alive;

	if (!s->tree)
		return false;
	alive = proctree__poll(s->tree);
	s->pid = proctree__main(s->tree);
	if (s->launched && !alive)
		s->child_alive = false;
	return !alive;
}

/* What unwinding in BPF did, for -v. */
static void bpfunwind_debug(const struct session *s)
{
	uint64_t cnt[MT_CNT__COUNT] = { 0 }, calls, sampled;
	struct bpfunwind_stats st;

	if (!s->bu || !s->probes)
		return;
	bpfunwind__stats(s->bu, &st);
	probes__counters(s->probes, cnt, &calls, &sampled);
	mt_debug("BPF unwind: %llu processes, %llu files (%llu without a table), %llu rows, %llu mappings past the bound; %llu stacks read, %llu missing; %llu events unwound in BPF, %llu lost; %llu walks failed, %llu stacks past the map",
		 (unsigned long long)st.procs, (unsigned long long)st.files,
		 (unsigned long long)st.files_failed,
		 (unsigned long long)st.rows,
		 (unsigned long long)st.maps_dropped,
		 (unsigned long long)st.stacks,
		 (unsigned long long)st.stack_misses,
		 (unsigned long long)s->coll.bpf_stacks,
		 (unsigned long long)s->coll.bpf_stack_lost,
		 (unsigned long long)cnt[MT_CNT_UNW_FALLBACK],
		 (unsigned long long)cnt[MT_CNT_UNW_STACKS_FULL]);
}

/* The loop's nap between drains: 5 ms while records come fast, doubling
 * to 20 ms while a drain finds fewer than SESSION_NAP_FEW (up to 100k
 * records/s: 2000 records, a few MiB of the 32 MiB ring, come in 20 ms).
 * A sampled heap and the CPU sampler bring a few hundred records a
 * second: waking every 5 ms for them was 200 context switches a second,
 * a fifth of the profiler's own CPU, part of it on the target's CPU. */
#define SESSION_NAP_MIN_NS (5 * 1000 * 1000L)
#define SESSION_NAP_MAX_NS (20 * 1000 * 1000L)
#define SESSION_NAP_FEW 512

/* Drain events until --duration, a signal or the target's exit. */
static int session__loop(struct session *s)
{
	/* options__parse bounds duration: the product fits in 64 bits */
	uint64_t deadline = s->o->duration > 0 ?
		s->start_mono + (uint64_t)(s->o->duration * 1e9) : 0;
	long nap_ns = SESSION_NAP_MIN_NS;
	uint64_t next_reap = clock__mono_ns() + 1000000000ULL;
	uint64_t interval = (uint64_t)s->otel.interval_ms * 1000000ULL;
	uint64_t next_window = clock__mono_ns() + interval;

	for (;;) {
		int n = probes__drain(s->probes);

		/* release processes that exited: their stacks were symbolized
		 * when first seen, so only their memory goes */
		if (clock__mono_ns() >= next_reap) {
			targets__reap(s->targets, s->pid);
			collector__reap(&s->coll);
			next_reap = clock__mono_ns() + 1000000000ULL;
		}
		session__window(s, &next_window, interval);
		session__budget_tick(s);
		session__status(s);
		if (n < 0 && n != -EINTR) {
			mt_err("reading events failed: %s", strerror(-n));
			s->end_reason = "event read error";
			return EXIT_RUNTIME;
		}
		if (exiting) {
			s->end_reason = "interrupted";
			break;
		}
		if (session__target_gone(s)) {
			s->end_reason = "target exited";
			break;
		}
		if (deadline && clock__mono_ns() >= deadline) {
			s->end_reason = "duration reached";
			break;
		}
		/* idle or a trickle: wake less often, up to the budget's
		 * 20 ms rounds (a burst after idling fills a few MiB of the
		 * 32 MiB ring at most); ptrace stops (on_child) and a new
		 * process's first CPU sample cut the nap short */
		if (n >= SESSION_NAP_FEW)
			nap_ns = SESSION_NAP_MIN_NS;
		else if (nap_ns < SESSION_NAP_MAX_NS)
			nap_ns *= 2;
		if (n < 64)
			(void)probes__nap(s->probes, nap_ns);
	}
	probes__drain_all(s->probes);
	return 0;
}

/* Path of file f in the output directory. */
static const char *session__path(const struct session *s,
				 enum session_file f, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->outdir, session__file_name(f));
	return buf;
}

/* Record whether writing f worked, naming f when it did not. 0 or
 * EXIT_RUNTIME. */
static int session__wrote(struct session *s, enum session_file f, int err)
{
	char path[PATH_MAX + 32];

	s->written[f] = !err;
	if (!err)
		return 0;
	mt_err("cannot write %s: %s", session__path(s, f, path, sizeof(path)),
	       strerror(-err));
	return EXIT_RUNTIME;
}

static int session__write_heap(struct session *s, int64_t duration,
			       const char *what)
{
	char notes[4096];
	struct heap_report hr = {
		.heap = s->heapst, .stacks = s->stacks, .syms = s->syms,
		.sample_bytes = s->o->sample_bytes,
		.time_nanos = s->start_wall, .duration_nanos = duration,
		.notes = notes,
	};
	char path[PATH_MAX + 32], title[PATH_MAX + 64];
	size_t n;
	int rc;

	n = session__overhead_notes(s, notes, sizeof(notes));
	if (n && n + 1 < sizeof(notes))
		notes[n++] = '\n';
	session__budget_notes(s, notes + n, sizeof(notes) - n);
	session__path(s, SF_HEAP_PPROF, path, sizeof(path));
	rc = session__wrote(s, SF_HEAP_PPROF,
			    heap_report__write_pprof(&hr, path));
	session__path(s, SF_HEAP_SVG, path, sizeof(path));
	snprintf(title, sizeof(title), "In-use heap: %s (pid %d)", what,
		 s->pid);
	return session__wrote(s, SF_HEAP_SVG,
			      heap_report__write_svg(&hr, path, title)) ?: rc;
}

static int session__write_cpu(struct session *s, int64_t duration,
			      const char *what)
{
	char notes[4096];
	struct cpu_report cr = {
		.cpu = s->cpust, .stacks = s->stacks, .syms = s->syms,
		.freq = s->o->freq, .time_nanos = s->start_wall,
		.duration_nanos = duration, .notes = notes,
	};
	char path[PATH_MAX + 32], title[PATH_MAX + 64];
	int rc;

	session__overhead_notes(s, notes, sizeof(notes));
	session__path(s, SF_CPU_PPROF, path, sizeof(path));
	rc = session__wrote(s, SF_CPU_PPROF, cpu_report__write_pprof(&cr, path));
	if (s->pid)
		snprintf(title, sizeof(title), "CPU: %s (pid %d)", what, s->pid);
	else
		snprintf(title, sizeof(title), "CPU: all processes");
	/* one file at a time, so that an error names the file that failed */
	session__path(s, SF_CPU_FOLDED, path, sizeof(path));
	rc = session__wrote(s, SF_CPU_FOLDED,
			    cpu_report__write_flame(&cr, path, NULL, title)) ?: rc;
	session__path(s, SF_CPU_SVG, path, sizeof(path));
	return session__wrote(s, SF_CPU_SVG,
			      cpu_report__write_flame(&cr, NULL, path, title)) ?: rc;
}

/* The target's executable path for titles, or "?". */
static const char *session__exe(const struct session *s)
{
	struct target *t = targets__find(s->targets, s->pid);

	return t && target__exe(t)[0] ? target__exe(t) : "?";
}

/* Is f in the output directory a regular file (written by a sink that
 * reports no names back)? */
static bool session__exists(const struct session *s, enum session_file f)
{
	char path[PATH_MAX + 32];
	struct stat st;

	session__path(s, f, path, sizeof(path));
	return !lstat(path, &st) && S_ISREG(st.st_mode);
}

/* Every local file: the profiles, then leaks.txt and the last metrics
 * window. 0 or EXIT_RUNTIME. */
static int session__write_local(struct session *s, int64_t duration)
{
	const char *what = s->pid ? session__exe(s) : "all processes";
	int rc = 0, err;

	if (s->heap)
		rc = session__write_heap(s, duration, what) ?: rc;
	if (s->cpu)
		rc = session__write_cpu(s, duration, what) ?: rc;
	if (s->tel) {
		/* it names the file of each failure itself */
		err = telemetry__finish(s->tel, wall_ns() / 1e9);
		if (err)
			rc = EXIT_RUNTIME;
		s->written[SF_LEAKS] = session__exists(s, SF_LEAKS);
		s->written[SF_METRICS] =
			!otel_config__enabled(&s->otel, OTLP_METRICS) &&
			session__exists(s, SF_METRICS);
	}
	return rc;
}

/* The last profiles window, then whatever is queued, for at most
 * SESSION_FLUSH_DEADLINE_MS (or the configured timeout if shorter). */
static void session__flush_otlp(struct session *s)
{
	int deadline = s->otel.signal[OTLP_METRICS].timeout_ms;
	int err;

	if (s->pexp) {
		err = profile_export__window(s->pexp, (uint64_t)wall_ns());
		if (err)
			mt_err("profiles: %s", strerror(-err));
	}
	if (!s->exp)
		return;
	if (s->otel.signal[OTLP_PROFILES].timeout_ms > deadline)
		deadline = s->otel.signal[OTLP_PROFILES].timeout_ms;
	if (deadline <= 0 || deadline > SESSION_FLUSH_DEADLINE_MS)
		deadline = SESSION_FLUSH_DEADLINE_MS;
	if (otlp_exporter__flush(s->exp, deadline))
		mt_err("OTLP: some exports could not be delivered within %d ms",
		       deadline);
}

/* Detach, stop a launched target, write the files, flush, summarize. */
static int session__finish(struct session *s, int rc)
{
	int64_t duration = (int64_t)(clock__mono_ns() - s->start_mono);
	struct session_counts c;
	int wrc;

	mt_status_clear();
	if (s->probes)
		probes__drain_all(s->probes);
	/* pauses still closing their links finished (their last records
	 * taken) before anything is counted */
	session__budget_finish(s);
	session__counts(s, &c);
	session__overhead_update(s);
	/* detach now: the target runs unprobed while we symbolize */
	bpfunwind_debug(s);
	probes__destroy(s->probes);
	s->probes = NULL;
	s->coll.bu = NULL;	/* its maps are gone */
	if (s->launched && s->child_alive) {
		mt_info("stopping %d (%s)", s->pid, s->end_reason);
		launch__terminate(2000);
		s->child_alive = false;
	}
	wrc = session__write_local(s, duration);
	if (wrc)
		rc = wrc;
	session__flush_otlp(s);
	session__print_summary(s, duration, &c);
	return rc;
}

void session__free(struct session *s)
{
	mt_status_clear();
	u64map__free(&s->pids);
	/* kills what is left of a launched tree (nothing, normally) and
	 * frees the launcher's state */
	if (s->launched)
		launch__terminate(0);
	probes__destroy(s->probes);
	session__budget_free(s);
	proctree__free(s->tree);
	telemetry__free(s->tel);
	overhead__free(s->ovh);
	profile_export__free(s->pexp);
	otlp_exporter__free(s->exp);
	memmetrics__free(s->mm);
	otel_config__free(&s->otel);
	if (s->coll_ready)
		collector__fini(&s->coll);
	bpfunwind__free(s->bu);
	heapstate__free(s->heapst);
	cpustate__free(s->cpust);
	stacks__free(s->stacks);
	symcache__free(s->syms);
	targets__free(s->targets);
	symdb__free(s->symdb);
	ksyms__free(s->ksyms);
}

/* Everything up to the first event: the target, the models, the sinks and
 * the probes. 0 or the exit status. */
static int session__start(struct session *s)
{
	struct probe_point pts[MT_OP__COUNT];
	struct allocator a;
	size_t n_pts = 0;
	int rc, err;

	rc = session__check(s) ?: session__launch(s);
	if (rc)
		return rc;
	if (s->heap) {
		rc = session__find_allocator(s, &a);
		if (rc)
			return rc;
		session__find_go(s, a.path[0] != '\0');
	}
	if (s->heap && a.path[0]) {
		err = allocator__plan(&a, pts, &n_pts);
		if (err) {
			mt_err("cannot plan probes in %s: %s", a.path,
			       strerror(-err));
			return EXIT_RUNTIME;
		}
	} else if (s->launched) {
		/* CPU only: let the loader finish so maps are complete */
		launch__run_to_libs(s->pid);
	}
	rc = session__build(s) ?: session__start_otlp(s);
	if (!rc && s->heap)
		rc = session__start_metrics(s);
	if (rc)
		return rc;
	if (s->pid && !targets__get(s->targets, s->pid) && s->heap) {
		mt_err("cannot read the memory map of process %d: %s", s->pid,
		       strerror(errno));
		return EXIT_RUNTIME;
	}
	return session__attach(s, &a, pts, n_pts);
}

int session__run(const struct options *o)
{
	struct session s = { .o = o };
	int rc;

	mt_verbose = o->verbose;
	libbpf_set_print(libbpf_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	s.cpu = !o->no_cpu;
	s.heap = !o->no_heap && (o->pid || o->command);
	rc = load_otel(o, &s.otel);
	if (rc)
		goto cleanup;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, on_child);
	rc = session__start(&s);
	if (rc)
		goto cleanup;
	s.start_wall = wall_ns();
	s.start_mono = clock__mono_ns();
	/* a person watching a terminal sees progress; logs and pipes don't */
	s.status = isatty(STDERR_FILENO);
	if (s.launched && launch__resume(s.pid)) {
		mt_err("cannot start %s: %s", o->command[0], strerror(errno));
		rc = EXIT_RUNTIME;
		goto cleanup;
	}
	rc = session__loop(&s);
	rc = session__finish(&s, rc);

cleanup:
	session__free(&s);
	return rc;
}
