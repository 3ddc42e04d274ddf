/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * usdt.h - heap profiling of programs that sample in-process: find the
 * OpenTelemetry otel_memory:alloc/free USDT probes in a process's mapped
 * files and attach them instead of the malloc/free uprobes; and the
 * preload of our own sampler (libmemtel-sampler.so) for `--sampler`.
 */
#ifndef MEMTEL_USDT_H_ATTACH
#define MEMTEL_USDT_H_ATTACH

#include <stddef.h>
#include <sys/types.h>

#include "attach/probes.h"

#define USDT_PROVIDER "otel_memory"
#define USDT_SAMPLER_LIB "libmemtel-sampler.so"

/* Attach otel_memory:alloc and :free in every mapped file of pid that
 * has otel_memory:alloc sites. Returns the number of files attached (0:
 * the process has no such probes, use the malloc/free uprobes), or
 * -errno. */
int usdt__attach(struct probes *p, pid_t pid);

/* Path of libmemtel-sampler.so: $MEMTEL_SAMPLER_LIB, else next to the
 * memtel-bpf executable (or in its build's .output/, or ../lib/). 0 or
 * -ENOENT. */
int usdt__sampler_path(char *buf, size_t len);

/* Prepend the sampler to LD_PRELOAD in our environment, for the child
 * about to be launched; *saved receives the previous value (malloc'ed, or
 * NULL if unset) for usdt__preload_restore(). 0 or -errno. */
int usdt__preload(char **saved);
/* Put LD_PRELOAD back as it was; frees saved. */
void usdt__preload_restore(char *saved);

#endif /* MEMTEL_USDT_H_ATTACH */
