// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * agent_options.c - the agent's options: flags, and a --config file of
 * key=value lines whose keys are the long flags' names. The file is read
 * first and the flags override it; the OTEL_* variables sit under both
 * (session__load_otel). One "memtel-bpf agent: ..." line per usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/agent.h"
#include "sinks/http/http.h"
#include "util/fileio.h"

static const char agent_usage[] =
"Usage: memtel-bpf agent [options]\n"
"\n"
"Node agent: CPU-profiles every process (99 Hz, user and kernel stacks)\n"
"and reads the memory of every process, until SIGTERM or SIGINT; then a\n"
"final export within 2.5 s. Every export interval: OTLP profiles (one\n"
"resource per process: process.pid, process.executable.*, container.id,\n"
"k8s.pod.uid, k8s.node.name, host.name) and OTLP metrics, or without an\n"
"endpoint cpu-<unix time>.pb.gz in -o DIR. HTTP on --listen: /metrics\n"
"(Prometheus text), /healthz, /readyz.\n"
"\n"
"Options:\n"
"      --config FILE       key=value lines, keys as the long options below\n"
"                          (# comments); flags given as well win\n"
"      --listen ADDR:PORT  HTTP endpoint (default 127.0.0.1:9464; every\n"
"                          interface must be asked for: 0.0.0.0:9464)\n"
"      --export-interval S export every S seconds (default 10, or\n"
"                          OTEL_METRIC_EXPORT_INTERVAL)\n"
"  -F, --freq HZ           CPU samples per second per CPU (default 99)\n"
"      --no-kernel         leave kernel frames out of CPU stacks\n"
"  -o, --output DIR        pprof files when no OTLP endpoint is set\n"
"      --keep-files N      cpu-*.pb.gz files kept in DIR (default 60)\n"
"      --max-processes N   processes with their own memory gauges, the\n"
"                          largest by RSS; the rest are summed as\n"
"                          component=\"other\" (default 50)\n"
"      --heap-target KIND=VALUE  heap probes for the processes it names,\n"
"                          running now or started later (repeatable, at most\n"
"                          32): exe=PATH, comm=NAME (15 bytes at most),\n"
"                          container=ID-PREFIX, pod=UID, cgroup=PATH-PREFIX\n"
"      --max-heap-targets N  processes with heap probes at once (default 16,\n"
"                          at most 1024); one line says when it is reached\n"
"      --sample-bytes N    heap targets: one sample per N bytes on average\n"
"                          (default 524288; 1: every allocation)\n"
"      --max-overhead PCT  heap targets: keep each one's estimated slowdown\n"
"                          from the heap probes under PCT percent by pausing\n"
"                          them (default 5; 0 = unlimited, the default with\n"
"                          --sample-bytes 1); what was partial is said\n"
"      --otlp-endpoint URL, --otlp-header K=V, --otlp-timeout MS,\n"
"      --otlp-compression gzip|none, --otlp-protocol http/protobuf|grpc,\n"
"      --service-name NAME as for memtel-bpf itself (OTEL_* honoured)\n"
"  -v, --verbose           libbpf's messages\n"
"  -h, --help              show this help\n"
"\n"
"Examples:\n"
"  sudo memtel-bpf agent --otlp-endpoint http://collector:4318\n"
"  sudo memtel-bpf agent -o /var/lib/memtel --listen 0.0.0.0:9464\n"
"  sudo memtel-bpf agent --config /etc/memtel/agent.conf\n"
"  sudo memtel-bpf agent --heap-target comm=redis-server \\\n"
"       --heap-target cgroup=/kubepods/burstable --listen 0.0.0.0:9464\n";

static int agent_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static int agent_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("memtel-bpf agent: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -EINVAL;
}

void agent_options__init(struct agent_options *ao)
{
	memset(ao, 0, sizeof(*ao));
	options__init(&ao->base);
	ao->base.all = true;
	ao->base.no_heap = true;
	ao->max_processes = AGENT_DEFAULT_TOP;
	ao->keep_files = AGENT_DEFAULT_KEEP;
	ao->max_heap_targets = AGENT_DEFAULT_HEAP_TARGETS;
}

void agent_options__free(struct agent_options *ao)
{
	free(ao->config_text);
	ao->config_text = NULL;
	free(ao->heap_targets);
	ao->heap_targets = NULL;
}

/* One --heap-target into the set (made on first use). 0 or -EINVAL. */
static int add_heap_target(struct agent_options *ao, const char *value,
			   const char *from)
{
	char err[256];
	int rc;

	if (!ao->heap_targets) {
		ao->heap_targets = calloc(1, sizeof(*ao->heap_targets));
		if (!ao->heap_targets)
			return agent_usage_error("out of memory");
	}
	rc = selector_set__add(ao->heap_targets, value, err, sizeof(err));
	if (rc)
		return agent_usage_error("%s%s", from, err);
	return 0;
}

static int parse_uint(const char *s, unsigned long lo, unsigned long hi,
		      unsigned long *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || *out < lo || *out > hi)
		return -EINVAL;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!s || !strcasecmp(s, "true") || !strcmp(s, "1") ||
	    !strcasecmp(s, "yes")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(s, "false") || !strcmp(s, "0") ||
	    !strcasecmp(s, "no")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* One option by its long name; value NULL for a flag given on the command
 * line. from names where it came from for the error line. */
static int agent_options__set(struct agent_options *ao, const char *name,
			      const char *value, const char *from)
{
	struct options *o = &ao->base;
	struct sockaddr_storage ss;
	unsigned long v;
	socklen_t len;
	double d;
	char *end;

	if (!strcmp(name, "listen")) {
		if (http_addr__parse(value, &ss, &len))
			return agent_usage_error("%sinvalid listen address '%s': want ADDR:PORT",
						 from, value);
		ao->listen = value;
	} else if (!strcmp(name, "export-interval")) {
		errno = 0;
		d = strtod(value, &end);
		if (errno || *end || !isfinite(d) || d < 0.1 || d > 86400)
			return agent_usage_error("%sinvalid export-interval '%s': want 0.1..86400 seconds",
						 from, value);
		o->export_interval = d;
	} else if (!strcmp(name, "freq")) {
		if (parse_uint(value, 1, 10000, &v))
			return agent_usage_error("%sinvalid freq '%s': want 1..10000 Hz",
						 from, value);
		o->freq = (uint32_t)v;
	} else if (!strcmp(name, "no-kernel")) {
		if (parse_bool(value, &o->no_kernel))
			return agent_usage_error("%sinvalid no-kernel '%s': want true or false",
						 from, value);
	} else if (!strcmp(name, "verbose")) {
		if (parse_bool(value, &o->verbose))
			return agent_usage_error("%sinvalid verbose '%s': want true or false",
						 from, value);
	} else if (!strcmp(name, "output")) {
		if (!*value)
			return agent_usage_error("%sempty output directory", from);
		o->outdir = value;
	} else if (!strcmp(name, "keep-files")) {
		if (parse_uint(value, 1, 100000, &v))
			return agent_usage_error("%sinvalid keep-files '%s': want 1..100000",
						 from, value);
		ao->keep_files = (unsigned int)v;
	} else if (!strcmp(name, "max-processes")) {
		if (parse_uint(value, 1, 10000, &v))
			return agent_usage_error("%sinvalid max-processes '%s': want 1..10000",
						 from, value);
		ao->max_processes = (unsigned int)v;
	} else if (!strcmp(name, "heap-target")) {
		return add_heap_target(ao, value, from);
	} else if (!strcmp(name, "max-heap-targets")) {
		if (parse_uint(value, 1, AGENT_MAX_HEAP_TARGETS, &v))
			return agent_usage_error("%sinvalid max-heap-targets '%s': want 1..%d",
						 from, value,
						 AGENT_MAX_HEAP_TARGETS);
		ao->max_heap_targets = (unsigned int)v;
	} else if (!strcmp(name, "sample-bytes")) {
		if (parse_uint(value, 1, ULONG_MAX, &v) ||
		    (unsigned long long)v > OPTIONS_MAX_SAMPLE_BYTES)
			return agent_usage_error("%sinvalid sample-bytes '%s': want 1..%llu",
						 from, value,
						 (unsigned long long)OPTIONS_MAX_SAMPLE_BYTES);
		o->sample_bytes = v;
	} else if (!strcmp(name, "max-overhead")) {
		errno = 0;
		d = strtod(value, &end);
		if (errno || *end || end == value || !isfinite(d) || d < 0 ||
		    d > 100)
			return agent_usage_error("%sinvalid max-overhead '%s': want a percentage in 0..100 (0 = unlimited)",
						 from, value);
		o->max_overhead = d;
	} else if (!strcmp(name, "otlp-endpoint")) {
		o->otlp_endpoint = value;
	} else if (!strcmp(name, "otlp-header")) {
		if (o->n_otlp_headers >= OPTIONS_MAX_HEADERS)
			return agent_usage_error("%stoo many otlp-header (at most %d)",
						 from, OPTIONS_MAX_HEADERS);
		o->otlp_headers[o->n_otlp_headers++] = value;
	} else if (!strcmp(name, "otlp-timeout")) {
		if (parse_uint(value, 1, 600000, &v))
			return agent_usage_error("%sinvalid otlp-timeout '%s': want 1..600000 ms",
						 from, value);
		o->otlp_timeout_ms = (int)v;
	} else if (!strcmp(name, "otlp-compression")) {
		o->otlp_compression = value;
	} else if (!strcmp(name, "otlp-protocol")) {
		o->otlp_protocol = value;
	} else if (!strcmp(name, "service-name")) {
		o->service_name = value;
	} else {
		return agent_usage_error("%sunknown option '%s'", from, name);
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* The --config file, parsed in place (the options point into it). */
static int agent_options__load(struct agent_options *ao, const char *path)
{
	char from[PATH_MAX + 32], *line, *next, *eq;
	size_t len;
	int lineno = 0, err;

	err = fileio__read_text(path, FILEIO_REGULAR | FILEIO_FOLLOW,
				AGENT_MAX_CONFIG, &ao->config_text, &len);
	if (err == -EFBIG)
		return agent_usage_error("config file %s is larger than %d bytes",
					 path, AGENT_MAX_CONFIG);
	if (err)
		return agent_usage_error("cannot read config file %s: %s",
					 path, strerror(-err));
	if (strlen(ao->config_text) != len)
		return agent_usage_error("config file %s contains a NUL byte",
					 path);
	for (line = ao->config_text; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		snprintf(from, sizeof(from), "%s:%d: ", path, lineno);
		eq = strchr(line, '=');
		if (!eq)
			return agent_usage_error("%swant key=value", from);
		*eq = '\0';
		line = trim(line);
		if (!strcmp(line, "config") || !strcmp(line, "help"))
			return agent_usage_error("%sunknown option '%s'", from,
						 line);
		err = agent_options__set(ao, line, trim(eq + 1), from);
		if (err)
			return err;
	}
	return 0;
}

static const struct option agent_longopts[] = {
	{ "config", required_argument, NULL, 0 },
	{ "listen", required_argument, NULL, 0 },
	{ "export-interval", required_argument, NULL, 0 },
	{ "freq", required_argument, NULL, 'F' },
	{ "no-kernel", no_argument, NULL, 0 },
	{ "output", required_argument, NULL, 'o' },
	{ "keep-files", required_argument, NULL, 0 },
	{ "max-processes", required_argument, NULL, 0 },
	{ "heap-target", required_argument, NULL, 0 },
	{ "max-heap-targets", required_argument, NULL, 0 },
	{ "sample-bytes", required_argument, NULL, 0 },
	{ "max-overhead", required_argument, NULL, 0 },
	{ "otlp-endpoint", required_argument, NULL, 0 },
	{ "otlp-header", required_argument, NULL, 0 },
	{ "otlp-timeout", required_argument, NULL, 0 },
	{ "otlp-compression", required_argument, NULL, 0 },
	{ "otlp-protocol", required_argument, NULL, 0 },
	{ "service-name", required_argument, NULL, 0 },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

int agent_options__parse(struct agent_options *ao, int argc, char **argv)
{
	const char *name;
	int c, idx, i, err;

	/* the file first, so that the flags override it */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			ao->config = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			ao->config = argv[i] + 9;
	}
	if (ao->config) {
		err = agent_options__load(ao, ao->config);
		if (err)
			return err;
	}
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":F:o:vh", agent_longopts,
				&idx)) != -1) {
		switch (c) {
		case 'h':
			fputs(agent_usage, stdout);
			return 1;
		case 'F':
			name = "freq";
			break;
		case 'o':
			name = "output";
			break;
		case 'v':
			name = "verbose";
			break;
		case 0:
			name = agent_longopts[idx].name;
			break;
		case ':':
			return agent_usage_error("option '%s' needs a value",
						 argv[optind - 1]);
		default:
			return agent_usage_error("unknown option '%s' (see --help)",
						 argv[optind - 1]);
		}
		if (!strcmp(name, "config"))
			continue;
		err = agent_options__set(ao, name, optarg, "");
		if (err)
			return err;
	}
	if (optind < argc)
		return agent_usage_error("unexpected argument '%s'",
					 argv[optind]);
	return 0;
}
