/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * clock.h - the one clock of the loader. Durations and deadlines use the
 * monotonic clock (immune to the wall clock being set); timestamps that
 * leave the process (pprof time_nanos, OTLP time_unix_nano) use the real
 * time clock.
 */
#ifndef MEMTEL_UTIL_CLOCK_H
#define MEMTEL_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t clock__mono_ns(void);
/* CLOCK_REALTIME in nanoseconds since the Unix epoch. */
uint64_t clock__real_ns(void);
/* CLOCK_BOOTTIME in nanoseconds: the clock of /proc/PID/stat's
 * starttime (monotonic, counting suspend). */
uint64_t clock__boot_ns(void);
/* CPU time of the calling thread in nanoseconds (user + system, the
 * kernel's traps on its behalf included). */
uint64_t clock__thread_cpu_ns(void);
/* CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t clock__mono_ms(void)
{
	return clock__mono_ns() / 1000000;
}
/* The CLOCK_MONOTONIC timespec ms milliseconds from now (for
 * pthread_cond_timedwait on a condattr with CLOCK_MONOTONIC). */
struct timespec clock__mono_after_ms(uint64_t ms);

#endif /* MEMTEL_UTIL_CLOCK_H */
