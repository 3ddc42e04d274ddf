// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * main.c - memtel-bpf command line and session.
 *
 * A session: check the request (usage errors exit 2 before anything is
 * attached), find the target's allocator, load and attach the probes, then
 * drain events until --duration, SIGINT/SIGTERM or the target's exit, and
 * write DIR/heap.pb.gz plus a summary. Runtime failures exit 1; whatever was
 * collected before a failure is still written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "attach/allocator.h"
#include "collect/collector.h"
#include "process/elfinfo.h"
#include "sinks/file/cpu_report.h"
#include "model/cpustate.h"
#include "sinks/file/heap_report.h"
#include "symbolize/ksyms.h"
#include "model/heapstate.h"
#include "attach/launch.h"
#include "util/log.h"
#include "model/memmetrics.h"
#include "sinks/otlp/otel_config.h"
#include "attach/probes.h"
#include "model/stacks.h"
#include "process/target.h"
#include "symbolize/symdb.h"
#include "process/targets.h"
#include "sinks/otlp/profile_export.h"
#include "sinks/telemetry.h"

#define EXIT_USAGE 2
#define EXIT_RUNTIME 1

struct options {
	pid_t pid;
	double duration;	/* seconds, 0 = until exit/signal */
	const char *outdir;
	uint64_t sample_bytes;
	uint32_t stack_bytes;
	uint32_t freq;		/* CPU sampling frequency, Hz */
	bool all;		/* CPU: every process on the host */
	bool no_kernel;
	bool no_cpu;
	bool no_heap;
	double export_interval;	/* seconds; 0 = config/env default */
	double leak_age;	/* seconds */
	const char *otlp_endpoint;
	const char *otlp_headers[32];
	int n_otlp_headers;
	int otlp_timeout_ms;
	const char *otlp_compression;
	const char *otlp_protocol;
	const char *service_name;
	char **command;		/* argv after "--", or NULL */
};

static volatile sig_atomic_t exiting;

static const char usage_text[] =
"Usage: memtel-bpf --pid PID [options]\n"
"       memtel-bpf [options] -- COMMAND [ARG...]\n"
"\n"
"       memtel-bpf --all [options]\n"
"\n"
"Heap and CPU profiler for live processes. eBPF uprobes on the target's\n"
"allocator (malloc, calloc, realloc, reallocarray, posix_memalign,\n"
"aligned_alloc, memalign, valloc, pvalloc, free) and a perf-event CPU\n"
"sampler; no restart, no recompilation, no LD_PRELOAD. Writes to DIR:\n"
"heap.pb.gz and cpu.pb.gz (pprof), heap.svg and cpu.svg (flame graphs),\n"
"cpu.folded, and prints a summary.\n"
"\n"
"Options:\n"
"  -p, --pid PID           profile the running process PID\n"
"  -d, --duration SECONDS  stop after SECONDS (default: until the target\n"
"                          exits or SIGINT/SIGTERM)\n"
"  -o, --output DIR        output directory (default: a new\n"
"                          ./memtel-PID-YYYYmmdd-HHMMSS/)\n"
"      --sample-bytes N    sample one allocation per N bytes on average\n"
"                          (geometric, default 524288); 1 records every\n"
"                          allocation\n"
"      --stack-bytes N     user stack copied per sample for unwinding\n"
"                          (default 8192, max 16384)\n"
"  -F, --freq HZ           CPU samples per second per CPU (default 99)\n"
"      --all               CPU-profile every process on the host (heap\n"
"                          profiling still needs --pid or a command)\n"
"      --no-kernel         leave kernel frames out of CPU stacks\n"
"      --no-cpu            heap profiling only\n"
"      --no-heap           CPU profiling only\n"
"      --export-interval S memory metrics every S seconds (default 10, or\n"
"                          OTEL_METRIC_EXPORT_INTERVAL)\n"
"      --leak-age S        blocks older than S seconds can be leaks\n"
"                          (default 30)\n"
"      --otlp-endpoint URL export metrics and profiles over OTLP to URL (as\n"
"                          OTEL_EXPORTER_OTLP_ENDPOINT: for http/protobuf\n"
"                          /v1/metrics and /v1development/profiles are\n"
"                          added; for grpc it is used as it is)\n"
"      --otlp-header K=V   extra request header (repeatable; e.g. API keys)\n"
"      --otlp-timeout MS   per-request timeout (default 10000)\n"
"      --otlp-compression gzip|none\n"
"      --otlp-protocol http/protobuf|grpc\n"
"      --service-name NAME service.name resource attribute\n"
"                          (default unknown_service:<executable>)\n"
"                          Without an endpoint the metrics go to\n"
"                          DIR/metrics.jsonl; OTEL_* variables are honoured.\n"
"  -v, --verbose           show libbpf's messages and probe placement\n"
"  -h, --help              show this help\n"
"  -V, --version           show the version\n"
"\n"
"Examples:\n"
"  sudo memtel-bpf --pid 1234 --duration 30\n"
"  sudo memtel-bpf --sample-bytes 1 -o /tmp/prof -- ./server --port 8080\n"
"  sudo memtel-bpf --all --duration 10 -F 49 -o /tmp/node\n"
"  go tool pprof -top -sample_index=inuse_space /tmp/prof/heap.pb.gz\n"
"\n"
"Needs root, or CAP_BPF and CAP_PERFMON (plus CAP_SYS_ADMIN to read\n"
"another process's files through /proc/PID/map_files).\n"
"Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (!mt_verbose && level != LIBBPF_WARN)
		return 0;
	if (!mt_verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("memtel-bpf: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return EXIT_USAGE;
}

static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_SAMPLE_BYTES = 256, OPT_STACK_BYTES, OPT_ALL, OPT_NO_KERNEL,
	       OPT_NO_CPU, OPT_NO_HEAP, OPT_EXPORT_INTERVAL, OPT_LEAK_AGE,
	       OPT_OTLP_ENDPOINT, OPT_OTLP_HEADER, OPT_OTLP_TIMEOUT,
	       OPT_OTLP_COMPRESSION, OPT_OTLP_PROTOCOL, OPT_SERVICE_NAME };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "sample-bytes", required_argument, NULL, OPT_SAMPLE_BYTES },
		{ "stack-bytes", required_argument, NULL, OPT_STACK_BYTES },
		{ "freq", required_argument, NULL, 'F' },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		{ "no-cpu", no_argument, NULL, OPT_NO_CPU },
		{ "no-heap", no_argument, NULL, OPT_NO_HEAP },
		{ "export-interval", required_argument, NULL, OPT_EXPORT_INTERVAL },
		{ "leak-age", required_argument, NULL, OPT_LEAK_AGE },
		{ "otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT },
		{ "otlp-header", required_argument, NULL, OPT_OTLP_HEADER },
		{ "otlp-timeout", required_argument, NULL, OPT_OTLP_TIMEOUT },
		{ "otlp-compression", required_argument, NULL, OPT_OTLP_COMPRESSION },
		{ "otlp-protocol", required_argument, NULL, OPT_OTLP_PROTOCOL },
		{ "service-name", required_argument, NULL, OPT_SERVICE_NAME },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{},
	};
	uint64_t v;
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:d:o:F:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, &v) || v == 0 || v > INT_MAX)
				return usage_error("invalid pid '%s'", optarg);
			o->pid = (pid_t)v;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || *end || end == optarg ||
			    !(o->duration > 0) || !isfinite(o->duration))
				return usage_error("invalid duration '%s': want seconds > 0",
						   optarg);
			break;
		case 'o':
			o->outdir = optarg;
			break;
		case OPT_SAMPLE_BYTES:
			if (parse_u64(optarg, &v) || v == 0)
				return usage_error("invalid --sample-bytes '%s': want an integer >= 1",
						   optarg);
			o->sample_bytes = v;
			break;
		case OPT_STACK_BYTES:
			if (parse_u64(optarg, &v) || v < 64 ||
			    v > MT_MAX_STACK_BYTES)
				return usage_error("invalid --stack-bytes '%s': want 64..%d",
						   optarg, MT_MAX_STACK_BYTES);
			o->stack_bytes = (uint32_t)v;
			break;
		case 'F':
			if (parse_u64(optarg, &v) || v == 0 || v > 10000)
				return usage_error("invalid --freq '%s': want 1..10000 Hz",
						   optarg);
			o->freq = (uint32_t)v;
			break;
		case OPT_ALL:
			o->all = true;
			break;
		case OPT_NO_KERNEL:
			o->no_kernel = true;
			break;
		case OPT_NO_CPU:
			o->no_cpu = true;
			break;
		case OPT_NO_HEAP:
			o->no_heap = true;
			break;
		case OPT_EXPORT_INTERVAL:
		case OPT_LEAK_AGE: {
			double d;

			errno = 0;
			d = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(d > 0) ||
			    !isfinite(d) || d > 86400)
				return usage_error("invalid --%s '%s': want seconds > 0",
						   c == OPT_LEAK_AGE ? "leak-age"
								     : "export-interval",
						   optarg);
			if (c == OPT_LEAK_AGE)
				o->leak_age = d;
			else
				o->export_interval = d;
			break;
		}
		case OPT_OTLP_ENDPOINT:
			o->otlp_endpoint = optarg;
			break;
		case OPT_OTLP_HEADER:
			if (o->n_otlp_headers == 32)
				return usage_error("too many --otlp-header options");
			o->otlp_headers[o->n_otlp_headers++] = optarg;
			break;
		case OPT_OTLP_TIMEOUT:
			if (parse_u64(optarg, &v) || v == 0 || v > 600000)
				return usage_error("invalid --otlp-timeout '%s': want milliseconds 1..600000",
						   optarg);
			o->otlp_timeout_ms = (int)v;
			break;
		case OPT_OTLP_COMPRESSION:
			o->otlp_compression = optarg;
			break;
		case OPT_OTLP_PROTOCOL:
			o->otlp_protocol = optarg;
			break;
		case OPT_SERVICE_NAME:
			o->service_name = optarg;
			break;
		case 'v':
			mt_verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("memtel-bpf %s\n", MEMTEL_VERSION);
			exit(0);
		case ':':
			return usage_error("option '%s' needs a value",
					   argv[optind - 1]);
		default:
			return usage_error("unknown option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0)
			return usage_error("unexpected argument '%s' (put the command after --)",
					   argv[optind]);
		o->command = &argv[optind];
	} else if (optind > 0 && !strcmp(argv[optind - 1], "--")) {
		return usage_error("no command after --");
	}
	if (o->pid && o->command)
		return usage_error("give either --pid or a command after --, not both");
	if (!o->pid && !o->command && !o->all)
		return usage_error("nothing to profile: give --pid PID, -- COMMAND or --all");
	if (o->no_cpu && o->no_heap)
		return usage_error("--no-cpu and --no-heap leave nothing to profile");
	if (o->all && o->no_cpu && !o->pid && !o->command)
		return usage_error("--all profiles CPU: it cannot go with --no-cpu");
	return 0;
}

/* OTEL_* environment, then the command line over it. 0, or EXIT_USAGE
 * after printing the one-line reason. */
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

/* 0 alive, -ESRCH gone, -ECHILD a zombie (exited, not yet reaped). */
static int pid_state(pid_t pid)
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
	if (!p || p[1] != ' ')
		return 0;
	return p[2] == 'Z' || p[2] == 'X' ? -ECHILD : 0;
}

/* Create dir (and parents) and prove we can write into it. */
static int prepare_outdir(const char *dir)
{
	char path[PATH_MAX], *s;
	int fd;

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
	if (snprintf(path, sizeof(path), "%s/.memtel-write-test", dir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	unlink(path);
	return 0;
}

static bool has_cap(unsigned int cap)
{
	char line[256];
	bool ok = false;
	FILE *f;

	f = fopen("/proc/self/status", "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long eff;

		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			ok = (eff >> cap) & 1;
			break;
		}
	}
	fclose(f);
	return ok;
}

#define CAP_SYS_ADMIN_ 21
#define CAP_PERFMON_ 38
#define CAP_BPF_ 39

static bool privileged(void)
{
	return has_cap(CAP_SYS_ADMIN_) ||
	       (has_cap(CAP_BPF_) && has_cap(CAP_PERFMON_));
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void default_outdir(char *buf, size_t len, pid_t pid)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	snprintf(buf, len, "memtel-%d-%s", pid, stamp);
}

/* The target's executable path for titles, or "?". */
static const char *target__exe_or(struct targets *tg, pid_t pid)
{
	struct target *t = targets__find(tg, pid);

	return t && target__exe(t)[0] ? target__exe(t) : "?";
}

static void human(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

struct session {
	struct options *o;
	pid_t pid;		/* 0 with --all and no target */
	bool heap, cpu;
	bool launched;		/* we started the target (-- COMMAND) */
	bool child_alive;
	char outdir[PATH_MAX];
	struct probes *probes;
	struct targets *targets;
	struct stacks *stacks;
	struct heapstate *heapst;
	struct cpustate *cpust;
	struct ksyms *ksyms;
	struct symcache *syms;
	struct symdb *symdb;
	struct otel_config otel;
	struct memmetrics *mm;
	struct telemetry *tel;
	struct otlp_exporter *exp;
	struct profile_export *pexp;
	char session_id[37];
	struct collector coll;
	bool coll_ready;
	const char *cpu_event;
	int n_cpus;
	int64_t start_wall;
	uint64_t start_mono;
	const char *end_reason;
};

static void session_free(struct session *s)
{
	probes__destroy(s->probes);
	telemetry__free(s->tel);
	profile_export__free(s->pexp);
	otlp_exporter__free(s->exp);
	memmetrics__free(s->mm);
	otel_config__free(&s->otel);
	if (s->coll_ready)
		collector__fini(&s->coll);
	heapstate__free(s->heapst);
	cpustate__free(s->cpust);
	stacks__free(s->stacks);
	symcache__free(s->syms);
	targets__free(s->targets);
	symdb__free(s->symdb);
	ksyms__free(s->ksyms);
}

static int run_loop(struct session *s)
{
	uint64_t deadline = s->o->duration > 0 ?
		s->start_mono + (uint64_t)(s->o->duration * 1e9) : 0;
	struct timespec nap = { 0, 5 * 1000 * 1000 };
	uint64_t next_reap = mono_ns() + 1000000000ULL;
	uint64_t interval = (uint64_t)s->otel.interval_ms * 1000000ULL;
	uint64_t next_window = mono_ns() + interval;
	int status;

	for (;;) {
		int n = probes__drain(s->probes);

		/* release processes that exited: their stacks were symbolized
		 * when first seen, so only their memory goes */
		if (mono_ns() >= next_reap) {
			targets__reap(s->targets, s->pid);
			next_reap = mono_ns() + 1000000000ULL;
		}
		if ((s->tel || s->pexp) && mono_ns() >= next_window) {
			int err = s->tel ? telemetry__window(s->tel,
							     wall_ns() / 1e9)
					 : 0;

			if (err)
				mt_err("metrics window failed: %s",
				       strerror(-err));
			err = s->pexp ? profile_export__window(
						s->pexp, (uint64_t)wall_ns())
				      : 0;
			if (err)
				mt_err("profiles window failed: %s",
				       strerror(-err));
			next_window = mono_ns() + interval;
		}

		if (n < 0 && n != -EINTR) {
			mt_err("reading events failed: %s", strerror(-n));
			s->end_reason = "event read error";
			return EXIT_RUNTIME;
		}
		if (exiting) {
			s->end_reason = "interrupted";
			break;
		}
		if (s->launched) {
			enum launch_state st = launch__poll(s->pid, &status);

			if (st == LAUNCH_EXITING) {
				/* memory still mapped: take the last events
				 * and any library mapped late */
				struct target *t = targets__find(s->targets,
								 s->pid);

				probes__drain(s->probes);
				if (t)
					target__refresh(t, true);
				probes__drain(s->probes);
				/* last look at its memory while it is mapped */
				if (s->tel)
					telemetry__window(s->tel,
							  wall_ns() / 1e9);
				launch__resume(s->pid);
				continue;
			}
			if (st == LAUNCH_EXITED) {
				s->child_alive = false;
				s->end_reason = "target exited";
				break;
			}
		} else if (s->pid && pid_state(s->pid)) {
			s->end_reason = "target exited";
			break;
		}
		if (deadline && mono_ns() >= deadline) {
			s->end_reason = "duration reached";
			break;
		}
		if (n < 64)
			nanosleep(&nap, NULL);
	}
	probes__drain(s->probes);
	return 0;
}

static int write_outputs(struct session *s, int64_t duration)
{
	struct symcache *sc = s->syms;
	char path[PATH_MAX + 32], path2[PATH_MAX + 32], title[PATH_MAX + 64];
	const char *what = s->pid ? target__exe_or(s->targets, s->pid) : "all processes";
	int err, rc = 0;

	if (s->heap) {
		struct heap_report hr = {
			.heap = s->heapst, .stacks = s->stacks, .syms = sc,
			.sample_bytes = s->o->sample_bytes,
			.time_nanos = s->start_wall, .duration_nanos = duration,
		};

		snprintf(path, sizeof(path), "%s/heap.pb.gz", s->outdir);
		err = heap_report__write_pprof(&hr, path);
		if (err) {
			mt_err("cannot write %s: %s", path, strerror(-err));
			rc = EXIT_RUNTIME;
		}
		snprintf(path, sizeof(path), "%s/heap.svg", s->outdir);
		snprintf(title, sizeof(title), "In-use heap: %s (pid %d)",
			 what, s->pid);
		err = heap_report__write_svg(&hr, path, title);
		if (err) {
			mt_err("cannot write %s: %s", path, strerror(-err));
			rc = EXIT_RUNTIME;
		}
	}
	if (s->cpu) {
		struct cpu_report cr = {
			.cpu = s->cpust, .stacks = s->stacks, .syms = sc,
			.freq = s->o->freq, .time_nanos = s->start_wall,
			.duration_nanos = duration,
		};

		snprintf(path, sizeof(path), "%s/cpu.pb.gz", s->outdir);
		err = cpu_report__write_pprof(&cr, path);
		if (err) {
			mt_err("cannot write %s: %s", path, strerror(-err));
			rc = EXIT_RUNTIME;
		}
		snprintf(path, sizeof(path), "%s/cpu.folded", s->outdir);
		snprintf(path2, sizeof(path2), "%s/cpu.svg", s->outdir);
		if (s->pid)
			snprintf(title, sizeof(title), "CPU: %s (pid %d)", what,
				 s->pid);
		else
			snprintf(title, sizeof(title), "CPU: all processes");
		err = cpu_report__write_flame(&cr, path, path2, title);
		if (err) {
			mt_err("cannot write %s: %s", path2, strerror(-err));
			rc = EXIT_RUNTIME;
		}
	}
	return rc;
}

static void print_summary(struct session *s, int64_t duration,
			  const uint64_t *cnt, uint64_t calls, uint64_t sampled,
			  uint64_t dropped)
{
	struct symcache *sc = s->syms;
	char a[32], b[32];

	if (s->pid)
		printf("memtel-bpf: pid %d (%s), %.2f s, %s\n", s->pid,
		       target__exe_or(s->targets, s->pid), duration / 1e9,
		       s->end_reason ? s->end_reason : "");
	else
		printf("memtel-bpf: all processes, %.2f s, %s\n",
		       duration / 1e9, s->end_reason ? s->end_reason : "");
	if (s->heap) {
		struct heap_report hr = {
			.heap = s->heapst, .stacks = s->stacks, .syms = sc,
		};
		struct heap_totals tot;

		heapstate__totals(s->heapst, &tot);
		if (s->o->sample_bytes <= 1)
			printf("heap sampling: every allocation\n");
		else
			printf("heap sampling: one per %llu bytes on average (values are scaled estimates)\n",
			       (unsigned long long)s->o->sample_bytes);
		human(tot.alloc_bytes, a, sizeof(a));
		human(tot.inuse_bytes, b, sizeof(b));
		printf("allocation calls seen: %llu, sampled: %llu\n",
		       (unsigned long long)calls, (unsigned long long)sampled);
		printf("allocated: %.0f objects, %s; in use at end: %.0f objects, %s\n",
		       tot.alloc_objects, a, tot.inuse_objects, b);
		heap_report__print_top(&hr, stdout, 10);
	}
	if (s->cpu) {
		struct cpu_report cr = {
			.cpu = s->cpust, .stacks = s->stacks, .syms = sc,
			.freq = s->o->freq,
		};

		printf("CPU sampler: %s at %u Hz on %d CPUs\n",
		       s->cpu_event ? s->cpu_event : "?", s->o->freq,
		       s->n_cpus);
		cpu_report__print_top(&cr, stdout, 10);
	}
	printf("events dropped: %llu", (unsigned long long)dropped);
	if (dropped)
		printf(" (ring buffer full %llu, live map full %llu, thread map full %llu, unmatched %llu, errors %llu)",
		       (unsigned long long)cnt[MT_CNT_RB_DROPS],
		       (unsigned long long)cnt[MT_CNT_LIVE_FULL],
		       (unsigned long long)cnt[MT_CNT_TID_FULL],
		       (unsigned long long)s->coll.orphans,
		       (unsigned long long)s->coll.errors);
	printf("\n");
	if (cnt[MT_CNT_STACK_FAIL])
		printf("stack copies failed: %llu\n",
		       (unsigned long long)cnt[MT_CNT_STACK_FAIL]);
	if (cnt[MT_CNT_STACK_SHORT])
		printf("stacks cut short while the ring buffer was busy: %llu\n",
		       (unsigned long long)cnt[MT_CNT_STACK_SHORT]);
}

static int finish(struct session *s, int rc)
{
	uint64_t cnt[MT_CNT__COUNT] = {}, calls = 0, sampled = 0, dropped;
	int64_t duration = (int64_t)(mono_ns() - s->start_mono);
	int wrc;

	if (s->probes) {
		probes__drain(s->probes);
		probes__counters(s->probes, cnt, &calls, &sampled);
		/* detach now: the target runs unprobed while we symbolize */
		probes__destroy(s->probes);
		s->probes = NULL;
	}
	if (s->launched && s->child_alive) {
		mt_info("stopping %d (%s)", s->pid, s->end_reason);
		launch__terminate(s->pid, 2000);
		s->child_alive = false;
	}
	dropped = cnt[MT_CNT_RB_DROPS] + cnt[MT_CNT_LIVE_FULL] +
		  cnt[MT_CNT_TID_FULL] + s->coll.orphans + s->coll.errors;

	if (s->tel) {
		int err = telemetry__finish(s->tel, wall_ns() / 1e9);

		if (err) {
			mt_err("metrics: %s", strerror(-err));
			rc = EXIT_RUNTIME;
		}
	}
	if (s->pexp) {
		int err = profile_export__window(s->pexp, (uint64_t)wall_ns());

		if (err)
			mt_err("profiles: %s", strerror(-err));
	}
	if (s->exp) {
		/* a final flush with a deadline: a dead collector must not
		 * hold the files hostage */
		int deadline = s->otel.signal[OTLP_METRICS].timeout_ms;

		if (s->otel.signal[OTLP_PROFILES].timeout_ms > deadline)
			deadline = s->otel.signal[OTLP_PROFILES].timeout_ms;
		if (otlp_exporter__flush(s->exp, deadline < 10000 ? deadline
								 : 10000))
			mt_err("OTLP: some exports could not be delivered before the deadline");
	}
	wrc = write_outputs(s, duration);
	if (wrc)
		rc = wrc;
	print_summary(s, duration, cnt, calls, sampled, dropped);
	if (s->tel)
		telemetry__print(s->tel, stdout);
	printf("output: %s/ (", s->outdir);
	if (s->heap)
		printf("heap.pb.gz heap.svg leaks.txt%s%s",
		       otel_config__enabled(&s->otel, OTLP_METRICS) ? "" :
								     " metrics.jsonl",
		       s->cpu ? " " : "");
	if (s->cpu)
		printf("cpu.pb.gz cpu.folded cpu.svg");
	printf(")\n  view: go tool pprof -top %s/%s\n", s->outdir,
	       s->heap ? "heap.pb.gz" : "cpu.pb.gz");
	fflush(stdout);
	return rc;
}

static int start_target(struct session *s, struct allocator *a)
{
	struct options *o = s->o;
	int err;

	if (!s->launched) {
		err = allocator__find(s->pid, a);
	} else {
		/* stopped right after exec: a static binary (or one with its
		 * own malloc) has its allocator mapped already; otherwise let
		 * the loader map the libraries first */
		char exe[64];

		snprintf(exe, sizeof(exe), "/proc/%d/exe", s->pid);
		err = allocator__find(s->pid, a);
		if (err == 0 && strcmp(a->kind, "executable") != 0)
			err = -ENOENT;
		/* a static executable maps no libraries: nothing to wait for */
		if (err == -ENOENT && !elfinfo__is_static(exe)) {
			err = launch__run_to_libs(s->pid);
			if (err == -ESRCH) {
				mt_err("%s exited during startup", o->command[0]);
				return EXIT_RUNTIME;
			}
			if (err) {
				mt_err("%s did not finish loading its libraries: %s",
				       o->command[0], strerror(-err));
				return EXIT_RUNTIME;
			}
			err = allocator__find(s->pid, a);
		}
	}
	if (err == -ESRCH) {
		mt_err("process %d exited before probes were attached", s->pid);
		return EXIT_RUNTIME;
	}
	if (err == -ENOENT) {
		mt_err("no recognised allocator in process %d: no mapped file defines malloc and free (stripped static binary?)",
		       s->pid);
		return EXIT_RUNTIME;
	}
	if (err) {
		mt_err("cannot inspect process %d: %s", s->pid, strerror(-err));
		return EXIT_RUNTIME;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {
		.sample_bytes = 524288, .stack_bytes = 8192, .freq = 99,
	};
	struct session s = { .o = &o };
	struct probe_point pts[MT_OP__COUNT];
	struct probes_opts po = {};
	struct allocator a;
	size_t n_pts = 0;
	int rc, err;

	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	libbpf_set_print(libbpf_print);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = load_otel(&o, &s.otel);
	if (rc) {
		otel_config__free(&s.otel);
		return rc;
	}
	s.cpu = !o.no_cpu;
	s.heap = !o.no_heap && (o.pid || o.command);

	if (o.pid) {
		err = pid_state(o.pid);
		if (err == -ESRCH) {
			mt_err("no such process: %d", o.pid);
			return EXIT_USAGE;
		}
		if (err == -ECHILD) {
			mt_err("process %d has exited", o.pid);
			return EXIT_USAGE;
		}
		s.pid = o.pid;
	}
	/* usage checks done before anything is attached or started */
	if (o.outdir) {
		snprintf(s.outdir, sizeof(s.outdir), "%s", o.outdir);
		err = prepare_outdir(s.outdir);
		if (err) {
			mt_err("cannot write to output directory %s: %s",
			       s.outdir, strerror(-err));
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

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (o.command) {
		err = launch__start(o.command, &s.pid);
		if (err) {
			mt_err("cannot run '%s': %s", o.command[0],
			       strerror(-err));
			return EXIT_USAGE;
		}
		s.launched = true;
		s.child_alive = true;
	}
	if (!o.outdir) {
		default_outdir(s.outdir, sizeof(s.outdir), s.pid);
		err = prepare_outdir(s.outdir);
		if (err) {
			mt_err("cannot create output directory %s: %s",
			       s.outdir, strerror(-err));
			rc = EXIT_USAGE;
			goto kill_child;
		}
	}

	if (s.heap) {
		rc = start_target(&s, &a);
		if (rc)
			goto kill_child;
		err = allocator__plan(&a, pts, &n_pts);
		if (err) {
			mt_err("cannot plan probes in %s: %s", a.path,
			       strerror(-err));
			rc = EXIT_RUNTIME;
			goto kill_child;
		}
	} else if (s.launched) {
		/* CPU only: let the loader finish so maps are complete */
		launch__run_to_libs(s.pid);
	}

	if (s.cpu && !o.no_kernel) {
		s.ksyms = ksyms__load(NULL);
		if (!s.ksyms)
			mt_debug("no kernel symbols (/proc/kallsyms): %s",
				 strerror(errno));
	}
	s.symdb = symdb__new();
	s.targets = s.symdb ? targets__new(s.pid ? 64 : 4096) : NULL;
	s.syms = s.targets ? symcache__new(s.targets, s.ksyms, s.symdb) : NULL;
	s.stacks = stacks__new();
	s.heapst = s.heap ? heapstate__new(o.sample_bytes) : NULL;
	s.cpust = s.cpu ? cpustate__new() : NULL;
	if (!s.targets || !s.syms || !s.stacks || (s.heap && !s.heapst) ||
	    (s.cpu && !s.cpust) ||
	    collector__init(&s.coll, s.targets, s.stacks, s.heapst,
			    s.cpust, s.syms)) {
		mt_err("out of memory");
		rc = EXIT_RUNTIME;
		goto kill_child;
	}
	s.coll_ready = true;
	if (otel_config__enabled(&s.otel, OTLP_METRICS) ||
	    otel_config__enabled(&s.otel, OTLP_PROFILES)) {
		s.exp = otlp_exporter__new(&s.otel, 64);
		if (!s.exp) {
			mt_err("cannot start the OTLP exporter: %s",
			       strerror(errno));
			rc = EXIT_RUNTIME;
			goto kill_child;
		}
	}
	if (s.exp && otel_config__enabled(&s.otel, OTLP_PROFILES)) {
		struct profile_export_opts pe = {
			.exp = s.exp, .otel = &s.otel, .stacks = s.stacks,
			.syms = s.syms, .targets = s.targets,
			.heap = s.heapst, .cpu = s.cpust, .pid = s.pid,
			.freq = o.freq, .sample_bytes = o.sample_bytes,
			.start_unix_ns = (uint64_t)wall_ns(),
		};
		char url[512];

		s.pexp = profile_export__new(&pe);
		if (!s.pexp) {
			mt_err("out of memory");
			rc = EXIT_RUNTIME;
			goto kill_child;
		}
		otel_redact_url(s.otel.signal[OTLP_PROFILES].url, url,
				sizeof(url));
		mt_info("exporting profiles to %s every %d ms", url,
			s.otel.interval_ms);
	}
	if (s.heap) {
		struct telemetry_opts to = {
			.otel = &s.otel, .exp = s.exp, .outdir = s.outdir,
			.pid = s.pid,
			.leak_age_s = o.leak_age, .heap = s.heapst,
			.stacks = s.stacks, .syms = s.syms,
			.session_id = s.session_id,
		};
		char exe[PATH_MAX] = "", link[64];
		const char *base;
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", s.pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0)
			exe[n] = '\0';
		base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
		to.exe_path = exe;
		if (memmetrics__uuid4(s.session_id))
			snprintf(s.session_id, sizeof(s.session_id), "%d-%lld",
				 getpid(), (long long)time(NULL));
		s.mm = memmetrics__new(s.session_id, base[0] ? base : "unknown",
				       o.leak_age, wall_ns() / 1e9);
		to.mm = s.mm;
		s.tel = s.mm ? telemetry__new(&to) : NULL;
		if (!s.tel) {
			mt_err("cannot start the metrics exporter: %s",
			       strerror(errno));
			rc = EXIT_RUNTIME;
			goto kill_child;
		}
		s.coll.mm = s.mm;
		s.coll.sample_mean = o.sample_bytes;
		s.coll.op_name = allocator__op_name;
		if (otel_config__enabled(&s.otel, OTLP_METRICS)) {
			char url[512], hdrs[512];

			otel_redact_url(s.otel.signal[OTLP_METRICS].url, url,
					sizeof(url));
			otel_config__redacted_headers(&s.otel, OTLP_METRICS,
						      hdrs, sizeof(hdrs));
			mt_info("exporting metrics to %s every %d ms (headers: %s)",
				url, s.otel.interval_ms, hdrs);
		}
	}
	if (s.pid && !targets__get(s.targets, s.pid) && s.heap) {
		mt_err("cannot read the memory map of process %d: %s", s.pid,
		       strerror(errno));
		rc = EXIT_RUNTIME;
		goto kill_child;
	}
	po.pid = s.pid;
	po.sample_bytes = o.sample_bytes;
	po.stack_bytes = o.stack_bytes;
	po.cpu = s.cpu;
	po.cpu_all = o.all;
	po.kernel_stacks = !o.no_kernel;
	po.on_event = collector__on_event;
	po.ctx = &s.coll;
	s.probes = probes__load(&po);
	if (!s.probes) {
		err = errno;
		if (err == EPERM || err == EACCES)
			mt_err("permission denied loading BPF: need CAP_BPF and CAP_PERFMON (or root)");
		else
			mt_err("cannot load BPF programs: %s%s", strerror(err),
			       mt_verbose ? "" : " (-v shows libbpf's log)");
		rc = EXIT_RUNTIME;
		goto kill_child;
	}
	if (s.heap) {
		err = probes__attach(s.probes, &a, pts, n_pts);
		if (err < 0) {
			mt_err("cannot attach probes to %s in process %d: %s",
			       a.path, s.pid, strerror(-err));
			rc = EXIT_RUNTIME;
			goto kill_child;
		}
		mt_info("attached %d heap probes to %s (%s) in pid %d (%s)",
			err, a.path, a.kind, s.pid,
			probes__session(s.probes) ? "uprobe session"
						  : "uprobes + uretprobes");
	}
	if (s.cpu) {
		s.n_cpus = probes__attach_cpu(s.probes, o.freq, &s.cpu_event);
		if (s.n_cpus < 0) {
			mt_err("cannot open the CPU sampler: %s",
			       strerror(-s.n_cpus));
			rc = EXIT_RUNTIME;
			goto kill_child;
		}
		mt_info("attached CPU sampler (%s, %u Hz, %d CPUs) for %s",
			s.cpu_event, o.freq, s.n_cpus,
			o.all ? "all processes" : "the target");
	}
	mt_info("attached; writing to %s/", s.outdir);

	s.start_wall = wall_ns();
	s.start_mono = mono_ns();
	if (s.launched && launch__resume(s.pid)) {
		mt_err("cannot start %s: %s", o.command[0], strerror(errno));
		rc = EXIT_RUNTIME;
		goto kill_child;
	}
	rc = run_loop(&s);
	rc = finish(&s, rc);
	session_free(&s);
	return rc;

kill_child:
	if (s.launched && s.child_alive) {
		kill(s.pid, SIGKILL);
		waitpid(s.pid, NULL, __WALL);
	}
	session_free(&s);
	return rc;
}
