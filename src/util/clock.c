// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * clock.c - monotonic and real time in nanoseconds (see clock.h).
 */
#include "util/clock.h"

static uint64_t read_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t clock__mono_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t clock__real_ns(void)
{
	return read_ns(CLOCK_REALTIME);
}

uint64_t clock__boot_ns(void)
{
	return read_ns(CLOCK_BOOTTIME);
}

uint64_t clock__thread_cpu_ns(void)
{
	return read_ns(CLOCK_THREAD_CPUTIME_ID);
}

struct timespec clock__mono_after_ms(uint64_t ms)
{
	uint64_t t = clock__mono_ns() + ms * 1000000ULL;
	struct timespec ts = {
		.tv_sec = (time_t)(t / 1000000000ULL),
		.tv_nsec = (long)(t % 1000000000ULL),
	};

	return ts;
}
