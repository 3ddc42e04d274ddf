// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * options.c - memtel-bpf's command line: getopt_long into struct options,
 * numbers checked for range (strtoull/strtod + errno + end pointer), one
 * "memtel-bpf: ..." line for every usage error, and the --help text.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtel.h"
#include "cli/options.h"

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
"  -p, --pid PID[,PID...]  profile the running process PID (repeatable,\n"
"                          or a comma-separated list: all of them)\n"
"      --children          with --pid: also profile the descendants of\n"
"                          each PID, those running now and those started\n"
"                          later (a launched COMMAND's children and exec'd\n"
"                          programs are always followed)\n"
"  -d, --duration SECONDS  stop after SECONDS (default: until the target\n"
"                          exits or SIGINT/SIGTERM; at most 31536000,\n"
"                          365 days)\n"
"  -o, --output DIR        output directory (default: a new\n"
"                          ./memtel-PID-YYYYmmdd-HHMMSS-XXXXXX/, the\n"
"                          suffix random)\n"
"      --sample-bytes N    sample one allocation per N bytes on average\n"
"                          (geometric, default 524288, max 2^40); 1\n"
"                          records every allocation\n"
"      --stack-bytes N     user stack copied per sample for unwinding\n"
"                          (default 8192, max 16384)\n"
"  -F, --freq HZ           CPU samples per second per CPU (default 99)\n"
"      --all               CPU-profile every process on the host (heap\n"
"                          profiling still needs --pid or a command)\n"
"      --no-kernel         leave kernel frames out of CPU stacks\n"
"      --no-cpu            heap profiling only\n"
"      --no-heap           CPU profiling only\n"
"      --sampler           with -- COMMAND: preload libmemtel-sampler.so,\n"
"                          which samples in-process (MEMTEL_SAMPLER_MEAN\n"
"                          bytes, default 524288) and fires otel_memory USDT\n"
"                          probes: no malloc/free uprobes, far less overhead\n"
"      --export-interval S memory metrics every S seconds (default 10, or\n"
"                          OTEL_METRIC_EXPORT_INTERVAL)\n"
"      --leak-age S        blocks older than S seconds can be leaks\n"
"                          (default 30)\n"
"      --max-overhead PCT  keep each target's estimated slowdown from the\n"
"                          heap probes under PCT percent by pausing them\n"
"                          (default 5; 0 = unlimited, the default with\n"
"                          --sample-bytes 1); estimates are scaled up\n"
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
"  sudo memtel-bpf --pid \"$(cat /run/nginx.pid)\" --children -d 30\n"
"  sudo memtel-bpf --sample-bytes 1 -o /tmp/prof -- ./server --port 8080\n"
"  sudo memtel-bpf --all --duration 10 -F 49 -o /tmp/node\n"
"  go tool pprof -top -sample_index=inuse_space /tmp/prof/heap.pb.gz\n"
"\n"
"Needs root, or CAP_BPF and CAP_PERFMON (plus CAP_SYS_ADMIN to read\n"
"another process's files through /proc/PID/map_files).\n"
"Exit status: 0 success, 1 runtime failure, 2 usage error.\n";

enum {
	OPT_SAMPLE_BYTES = 256, OPT_STACK_BYTES, OPT_ALL, OPT_NO_KERNEL,
	OPT_NO_CPU, OPT_NO_HEAP, OPT_EXPORT_INTERVAL, OPT_LEAK_AGE,
	OPT_OTLP_ENDPOINT, OPT_OTLP_HEADER, OPT_OTLP_TIMEOUT,
	OPT_OTLP_COMPRESSION, OPT_OTLP_PROTOCOL, OPT_SERVICE_NAME,
	OPT_CHILDREN,
	OPT_SAMPLER,
	OPT_MAX_OVERHEAD,
};

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
	{ "sampler", no_argument, NULL, OPT_SAMPLER },
	{ "export-interval", required_argument, NULL, OPT_EXPORT_INTERVAL },
	{ "leak-age", required_argument, NULL, OPT_LEAK_AGE },
	{ "max-overhead", required_argument, NULL, OPT_MAX_OVERHEAD },
	{ "otlp-endpoint", required_argument, NULL, OPT_OTLP_ENDPOINT },
	{ "otlp-header", required_argument, NULL, OPT_OTLP_HEADER },
	{ "otlp-timeout", required_argument, NULL, OPT_OTLP_TIMEOUT },
	{ "otlp-compression", required_argument, NULL, OPT_OTLP_COMPRESSION },
	{ "otlp-protocol", required_argument, NULL, OPT_OTLP_PROTOCOL },
	{ "service-name", required_argument, NULL, OPT_SERVICE_NAME },
	{ "children", no_argument, NULL, OPT_CHILDREN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{},
};

/* Where usage errors go (tests and the fuzz harness redirect them). */
static FILE *err_stream;

void options__set_error_stream(FILE *f)
{
	err_stream = f;
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* One line on stderr; always -EINVAL. */
static int usage_error(const char *fmt, ...)
{
	FILE *f = err_stream ? err_stream : stderr;
	va_list ap;

	fputs("memtel-bpf: ", f);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", f);
	return -EINVAL;
}

/* A decimal integer in [min, max]; strtoull alone accepts "-1" (as 2^64-1)
 * and leaves overflow in errno. 0 or -EINVAL. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Seconds in (0, max]: finite, so that converting s * 1e9 to an integer
 * later is defined. 0 or -EINVAL. */
static int parse_seconds(const char *s, double max, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(d) || !(d > 0) || d > max)
		return -EINVAL;
	*out = d;
	return 0;
}

void options__init(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->sample_bytes = 524288;
	o->stack_bytes = 8192;
	o->freq = 99;
	o->max_overhead = -1;
}

double options__max_overhead(const struct options *o)
{
	if (o->max_overhead >= 0)
		return o->max_overhead;
	return o->sample_bytes <= 1 ? 0 : OPTIONS_DEFAULT_MAX_OVERHEAD;
}

/* A percentage in [0, 100], decimals allowed. 0 or -EINVAL. */
static int parse_percent(const char *s, double *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(d) || d < 0 || d > 100)
		return -EINVAL;
	*out = d;
	return 0;
}

/* --pid A,B,...: each added once, in order. 0 or -EINVAL (reported). */
static int parse_pids(struct options *o, const char *arg)
{
	char one[32];
	const char *s = arg, *comma;
	uint64_t v;
	size_t len;
	int i;

	do {
		comma = strchr(s, ',');
		len = comma ? (size_t)(comma - s) : strlen(s);
		if (!len || len >= sizeof(one))
			return usage_error("invalid pid '%s'", arg);
		memcpy(one, s, len);
		one[len] = '\0';
		if (parse_u64(one, 1, INT_MAX, &v))
			return usage_error("invalid pid '%s'", one);
		for (i = 0; i < o->n_pids && o->pids[i] != (pid_t)v; i++)
			;
		if (i == o->n_pids) {
			if (o->n_pids == OPTIONS_MAX_PIDS)
				return usage_error("too many pids (at most %d)",
						   OPTIONS_MAX_PIDS);
			o->pids[o->n_pids++] = (pid_t)v;
		}
		if (comma)
			s = comma + 1;
	} while (comma);
	o->pid = o->pids[0];
	return 0;
}

/* The numeric options. 0 or -EINVAL (reported). */
static int parse_number(struct options *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'p':
		return parse_pids(o, arg);
	case 'd':
		if (parse_seconds(arg, OPTIONS_MAX_DURATION_S, &o->duration))
			return usage_error("invalid duration '%s': want seconds in (0, %.0f]",
					   arg, OPTIONS_MAX_DURATION_S);
		return 0;
	case OPT_SAMPLE_BYTES:
		if (parse_u64(arg, 1, OPTIONS_MAX_SAMPLE_BYTES, &o->sample_bytes))
			return usage_error("invalid --sample-bytes '%s': want an integer in 1..%llu",
					   arg, OPTIONS_MAX_SAMPLE_BYTES);
		return 0;
	case OPT_STACK_BYTES:
		if (parse_u64(arg, 64, MT_MAX_STACK_BYTES, &v))
			return usage_error("invalid --stack-bytes '%s': want 64..%d",
					   arg, MT_MAX_STACK_BYTES);
		o->stack_bytes = (uint32_t)v;
		return 0;
	case 'F':
		if (parse_u64(arg, 1, 10000, &v))
			return usage_error("invalid --freq '%s': want 1..10000 Hz",
					   arg);
		o->freq = (uint32_t)v;
		return 0;
	case OPT_EXPORT_INTERVAL:
		if (parse_seconds(arg, 86400, &o->export_interval))
			return usage_error("invalid --export-interval '%s': want seconds in (0, 86400]",
					   arg);
		return 0;
	case OPT_LEAK_AGE:
		if (parse_seconds(arg, 86400, &o->leak_age))
			return usage_error("invalid --leak-age '%s': want seconds in (0, 86400]",
					   arg);
		return 0;
	case OPT_MAX_OVERHEAD:
		if (parse_percent(arg, &o->max_overhead))
			return usage_error("invalid --max-overhead '%s': want a percentage in 0..100 (0 = unlimited)",
					   arg);
		return 0;
	case OPT_OTLP_TIMEOUT:
		if (parse_u64(arg, 1, 600000, &v))
			return usage_error("invalid --otlp-timeout '%s': want milliseconds 1..600000",
					   arg);
		o->otlp_timeout_ms = (int)v;
		return 0;
	}
	return usage_error("unknown option");
}

/* One option from getopt_long. 0, 1 (help/version printed) or -EINVAL. */
static int parse_one(struct options *o, int c, const char *arg,
		     const char *opt_text)
{
	switch (c) {
	case 'o':
		o->outdir = arg;
		return 0;
	case OPT_ALL:
		o->all = true;
		return 0;
	case OPT_CHILDREN:
		o->children = true;
		return 0;
	case OPT_NO_KERNEL:
		o->no_kernel = true;
		return 0;
	case OPT_NO_CPU:
		o->no_cpu = true;
		return 0;
	case OPT_NO_HEAP:
		o->no_heap = true;
		return 0;
	case OPT_SAMPLER:
		o->sampler = true;
		return 0;
	case OPT_OTLP_ENDPOINT:
		o->otlp_endpoint = arg;
		return 0;
	case OPT_OTLP_HEADER:
		if (o->n_otlp_headers == OPTIONS_MAX_HEADERS)
			return usage_error("too many --otlp-header options");
		o->otlp_headers[o->n_otlp_headers++] = arg;
		return 0;
	case OPT_OTLP_COMPRESSION:
		o->otlp_compression = arg;
		return 0;
	case OPT_OTLP_PROTOCOL:
		o->otlp_protocol = arg;
		return 0;
	case OPT_SERVICE_NAME:
		o->service_name = arg;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	case 'h':
		fputs(usage_text, stdout);
		return 1;
	case 'V':
		printf("memtel-bpf %s\n", MEMTEL_VERSION);
		return 1;
	case ':':
		return usage_error("option '%s' needs a value", opt_text);
	case '?':
		return usage_error("unknown option '%s'", opt_text);
	}
	return parse_number(o, c, arg);
}

/* What the options ask for taken together. 0 or -EINVAL. */
static int check_request(const struct options *o)
{
	if (o->pid && o->command)
		return usage_error("give either --pid or a command after --, not both");
	if (!o->pid && !o->command && !o->all)
		return usage_error("nothing to profile: give --pid PID, -- COMMAND or --all");
	if (o->children && !o->pid)
		return usage_error("--children needs --pid (a launched command's children are always followed)");
	if (o->no_cpu && o->no_heap)
		return usage_error("--no-cpu and --no-heap leave nothing to profile");
	if (o->all && o->no_cpu && !o->pid && !o->command)
		return usage_error("--all profiles CPU: it cannot go with --no-cpu");
	if (o->sampler && (!o->command || o->no_heap))
		return usage_error("--sampler preloads a heap sampler into a command: it needs -- COMMAND and heap profiling");
	return 0;
}

int options__parse(struct options *o, int argc, char **argv)
{
	int c, rc;

	if (argc < 1 || !argv || !argv[0])
		return usage_error("no program name in argv");
	/* optind = 0 makes glibc's getopt start over (a second parse in the
	 * same process: tests, the fuzz harness) */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:d:o:F:vhV", longopts,
				NULL)) != -1) {
		rc = parse_one(o, c, optarg, argv[optind - 1]);
		if (rc)
			return rc;
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0)
			return usage_error("unexpected argument '%s' (put the command after --)",
					   argv[optind]);
		o->command = &argv[optind];
	} else if (optind > 0 && !strcmp(argv[optind - 1], "--")) {
		return usage_error("no command after --");
	}
	return check_request(o);
}
