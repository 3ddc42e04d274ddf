// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_options.c - command lines as anybody could type them: the input,
 * split at NUL bytes, is argv after the program name. The parser must
 * never crash, and whatever it accepts must be within the documented
 * ranges (the session converts duration * 1e9 to an integer and hands
 * sample_bytes to the BPF sampler).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtel.h"
#include "cli/options.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* --help and the usage errors: not libFuzzer's output */
	options__set_error_stream(fopen("/dev/null", "w"));
	if (!freopen("/dev/null", "w", stdout))
		abort();
	return 0;
}

static void check(const struct options *o, char **argv, int argc)
{
	if (o->pid < 0 || o->sample_bytes < 1 ||
	    o->sample_bytes > OPTIONS_MAX_SAMPLE_BYTES)
		abort();
	if (!(o->duration >= 0) || o->duration > OPTIONS_MAX_DURATION_S)
		abort();
	if (o->stack_bytes < 64 || o->stack_bytes > MT_MAX_STACK_BYTES ||
	    o->freq < 1 || o->freq > 10000)
		abort();
	if (o->n_otlp_headers < 0 || o->n_otlp_headers > OPTIONS_MAX_HEADERS)
		abort();
	if (!o->pid && !o->command && !o->all)
		abort();
	/* the command, if any, lies inside argv and ends at its NULL */
	if (o->command && (o->command <= argv || o->command >= argv + argc))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *buf = malloc(size + 1);
	struct options o;
	int argc = 1;
	size_t i, start = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[0] = "memtel-bpf";
	for (i = 0; i <= size && argc <= MAX_ARGS; i++) {
		if (buf[i] != '\0')
			continue;
		argv[argc++] = buf + start;
		start = i + 1;
	}
	argv[argc] = NULL;
	options__init(&o);
	if (options__parse(&o, argc, argv) == 0)
		check(&o, argv, argc);
	free(buf);
	return 0;
}
