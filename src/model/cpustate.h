/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cpustate.h - the CPU aggregator: sample counts by (stack, thread), and
 * each thread's process and name, for pprof labels.
 */
#ifndef MEMTEL_CPUSTATE_H
#define MEMTEL_CPUSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "memtel.h"

struct cpustate;

struct cpu_entry {
	uint32_t stack_id;
	uint32_t pid, tid;
	uint64_t count;
	const char *comm;	/* thread name (valid while the state lives) */
};

struct cpustate *cpustate__new(void);
void cpustate__free(struct cpustate *c);
/* One sample of stack_id on thread tid of pid named comm. 0 or -ENOMEM. */
int cpustate__add(struct cpustate *c, uint32_t stack_id, uint32_t pid,
		  uint32_t tid, const char *comm);
/* Every (stack, thread) with its count, ordered by stack id then tid; the
 * caller frees *out. 0 or -ENOMEM. */
int cpustate__entries(struct cpustate *c, struct cpu_entry **out, size_t *n);
uint64_t cpustate__total(const struct cpustate *c);

#endif /* MEMTEL_CPUSTATE_H */
