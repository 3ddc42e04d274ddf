// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_overhead.c - the heap probes' estimated slowdown (model/overhead.c):
 * the formula against hand-computed figures, zero CPU, the cap, counters
 * going backwards, pid reuse through forget, the all-processes sum, the
 * cost per hit taken from a target's system time; and procstat's
 * /proc/PID/stat CPU parser that feeds it.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "model/overhead.h"
#include "process/procstat.h"

#define SEC 1000000000ULL

static void test_formula(void **state)
{
	struct overhead *o = overhead__new(500.0);
	struct overhead_est last, tot;

	(void)state;
	assert_non_null(o);
	assert_true(overhead__ns_per_hit(o) == 500.0);
	assert_false(overhead__get(o, 42, &last, &tot));
	/* baseline: 1000 hits, 1 s CPU already (before attach) */
	assert_int_equal(overhead__update(o, 42, 1000, 1 * SEC, 10 * SEC), 0);
	assert_true(overhead__get(o, 42, &last, &tot));
	assert_int_equal(tot.hits, 0);
	assert_true(tot.slowdown == 0);
	/* +2M hits x 500 ns = 1 s of probes in 11 s of CPU: 1 / 10 */
	assert_int_equal(overhead__update(o, 42, 2001000, 12 * SEC, 20 * SEC),
			 0);
	assert_true(overhead__get(o, 42, &last, &tot));
	assert_int_equal(last.hits, 2000000);
	assert_true(fabs(last.probe_ns - 1e9) < 1);
	assert_true(fabs(last.cpu_ns - 11e9) < 1);
	assert_true(fabs(last.slowdown - 0.1) < 1e-9);
	assert_true(fabs(last.span_ns - 10e9) < 1);
	/* another window: 0 hits, 1 s CPU; total keeps both */
	assert_int_equal(overhead__update(o, 42, 2001000, 13 * SEC, 30 * SEC),
			 0);
	assert_true(overhead__get(o, 42, &last, &tot));
	assert_int_equal(last.hits, 0);
	assert_true(last.slowdown == 0);
	assert_int_equal(tot.hits, 2000000);
	assert_true(fabs(tot.slowdown - 1.0 / 11) < 1e-9);
	assert_true(fabs(tot.span_ns - 20e9) < 1);
	overhead__free(o);
	overhead__free(NULL);
}

static void test_zero_cpu_and_cap(void **state)
{
	struct overhead *o = overhead__new(1000.0);
	struct overhead_est last, tot;

	(void)state;
	assert_non_null(o);
	assert_int_equal(overhead__update(o, 7, 0, 0, 0), 0);
	/* hits but no CPU seen (10 ms ticks): no figure, not a division by 0 */
	assert_int_equal(overhead__update(o, 7, 5000, 0, SEC), 0);
	assert_true(overhead__get(o, 7, &last, &tot));
	assert_int_equal(last.hits, 5000);
	assert_true(last.slowdown == 0);
	assert_true(isfinite(tot.slowdown));
	/* the estimate past the CPU measured: capped, finite */
	assert_int_equal(overhead__update(o, 7, 5000 + 20000, SEC / 100,
					  2 * SEC), 0);
	assert_true(overhead__get(o, 7, &last, NULL));
	assert_true(fabs(last.slowdown - OVERHEAD_MAX_SHARE /
			 (1 - OVERHEAD_MAX_SHARE)) < 1e-6);
	overhead__free(o);
	errno = 0;
	assert_null(overhead__new(-1.0));
	assert_int_equal(errno, EINVAL);
	assert_null(overhead__new(NAN));
}

static void test_backwards(void **state)
{
	struct overhead *o = overhead__new(100.0);
	struct overhead_est last, tot;

	(void)state;
	assert_non_null(o);
	assert_int_equal(overhead__update(o, 9, 1000, 2 * SEC, 0), 0);
	assert_int_equal(overhead__update(o, 9, 11000, 3 * SEC, SEC), 0);
	/* the counter restarted (re-tracked): no negative step, a new base */
	assert_int_equal(overhead__update(o, 9, 500, 4 * SEC, 2 * SEC), 0);
	assert_true(overhead__get(o, 9, &last, &tot));
	assert_int_equal(last.hits, 0);
	assert_true(fabs(last.cpu_ns - 1e9) < 1);
	assert_int_equal(tot.hits, 10000);
	/* counts again from the new base */
	assert_int_equal(overhead__update(o, 9, 1500, 5 * SEC, 3 * SEC), 0);
	assert_true(overhead__get(o, 9, &last, &tot));
	assert_int_equal(last.hits, 1000);
	assert_int_equal(tot.hits, 11000);
	/* CPU and time going backwards as well */
	assert_int_equal(overhead__update(o, 9, 1600, SEC, SEC), 0);
	assert_true(overhead__get(o, 9, &last, NULL));
	assert_true(last.cpu_ns == 0 && last.span_ns == 0);
	assert_int_equal(last.hits, 100);
	overhead__free(o);
}

static void test_forget_and_all(void **state)
{
	struct overhead *o = overhead__new(1000.0);
	struct overhead_est tot, all;
	size_t it = 0, n = 0;
	uint32_t pid;

	(void)state;
	assert_non_null(o);
	assert_int_equal(overhead__all(o, &all), 0);
	/* pid 5: 1 s of probes over 3 s CPU; pid 6: baseline only */
	assert_int_equal(overhead__update(o, 5, 0, 0, 0), 0);
	assert_int_equal(overhead__update(o, 5, 1000000, 3 * SEC, SEC), 0);
	assert_int_equal(overhead__update(o, 6, 0, 0, 0), 0);
	while (overhead__next(o, &it, &pid))
		n++;
	assert_int_equal(n, 2);
	assert_int_equal(overhead__all(o, &all), 1);
	assert_true(fabs(all.slowdown - 0.5) < 1e-9);
	/* pid 5 exits and a new process gets its pid: a fresh start, the
	 * old one's figures stay in the sum */
	assert_int_equal(overhead__last_gone(o), 0);
	overhead__forget(o, 5);
	overhead__forget(o, 5);
	assert_int_equal(overhead__last_gone(o), 5);
	assert_false(overhead__get(o, 5, NULL, &tot));
	assert_int_equal(overhead__update(o, 5, 10, SEC / 2, 5 * SEC), 0);
	assert_int_equal(overhead__update(o, 5, 1000010, SEC, 6 * SEC), 0);
	assert_true(overhead__get(o, 5, NULL, &tot));
	assert_int_equal(tot.hits, 1000000);
	assert_true(fabs(tot.cpu_ns - 0.5e9) < 1);
	assert_true(tot.slowdown > 10);	/* 1 s probes in 0.5 s: capped */
	/* a process forgotten with a baseline only adds nothing */
	overhead__forget(o, 6);
	assert_int_equal(overhead__last_gone(o), 5);
	assert_int_equal(overhead__all(o, &all), 2);
	assert_int_equal(all.hits, 2000000);
	assert_true(fabs(all.cpu_ns - 3.5e9) < 1);
	assert_true(fabs(all.slowdown - 2e9 / 1.5e9) < 1e-9);
	it = n = 0;
	while (overhead__next(o, &it, &pid))
		n++;
	assert_int_equal(n, 1);
	overhead__free(o);
}

static void test_many_pids(void **state)
{
	struct overhead *o = overhead__new(200.0);
	struct overhead_est tot;
	uint32_t pid;

	(void)state;
	assert_non_null(o);
	for (pid = 1; pid <= 300; pid++) {
		assert_int_equal(overhead__update(o, pid, 0, 0, 0), 0);
		assert_int_equal(overhead__update(o, pid, pid * 1000,
						  pid * SEC, SEC), 0);
	}
	for (pid = 1; pid <= 300; pid += 2)
		overhead__forget(o, pid);
	for (pid = 2; pid <= 300; pid += 2) {
		assert_true(overhead__get(o, pid, NULL, &tot));
		assert_int_equal(tot.hits, pid * 1000);
	}
	overhead__free(o);
}

static void test_stat_cpu(void **state)
{
	/* comm with spaces and ')'; utime 250, stime 50 ticks at 100 Hz */
	const char *stat = "1234 (a) b) (c) S 1 1234 1234 0 -1 4194560 100 0 "
			   "0 0 250 50 0 0 20 0 1 0 12345 1000 10 "
			   "18446744073709551615\n";
	uint64_t ns = 0, v = 0;

	(void)state;
	assert_int_equal(procstat__parse_cpu(stat, 100, &ns), 0);
	assert_true(ns == 3 * SEC);
	assert_int_equal(procstat__stat_field(stat, 22, &v), 0);
	assert_true(v == 12345);
	assert_int_equal(procstat__stat_field(stat, 4, &v), 0);
	assert_true(v == 1);
	assert_int_equal(procstat__parse_cpu(stat, 0, &ns), -EINVAL);
	assert_int_equal(procstat__parse_cpu("1 (x) S 1 2\n", 100, &ns),
			 -EINVAL);
	assert_int_equal(procstat__parse_cpu("garbage", 100, &ns), -EINVAL);
	assert_int_equal(procstat__stat_field(stat, 3, &v), -EINVAL); /* 'S' */
	assert_int_equal(procstat__stat_field(NULL, 14, &v), -EINVAL);
	/* this process: readable, and it has used some CPU by now */
	assert_int_equal(procstat__cpu_ns(getpid(), &ns), 0);
	assert_int_equal(procstat__cpu_ns(-1, &ns) < 0, 1);
}

/* A target whose system time per hit differs from the calibrated cost
 * (a compiler: cold caches at every trap; a calibration stretched by
 * load) is estimated at that cost, plus the user-side refill; one whose
 * system time is mostly its own syscalls, or with too little of it, at
 * the calibrated one. */
static void test_cost_in_place(void **state)
{
	struct overhead *o = overhead__new(1200.0);
	struct overhead_est last, tot, all;
	double want;

	(void)state;
	assert_non_null(o);
	/* cc1plus at full probes (measured: 7.1 s CPU bare, 22.0 s probed,
	 * 12.3 s more system time, 6.2M hits) */
	assert_int_equal(overhead__update_sys(o, 1, 0, 0, 0, 0), 0);
	assert_int_equal(overhead__update_sys(o, 1, 6200000, 22000 * 1000000ULL,
					      12300 * 1000000ULL, 25 * SEC), 0);
	assert_true(overhead__get(o, 1, &last, &tot));
	want = 1.2 * 12.3e9 / 6.2e6;
	assert_true(fabs(tot.ns_per_hit - want) < 1e-6);
	assert_true(fabs(last.ns_per_hit - tot.ns_per_hit) < 1e-9);
	/* 2.0x, where the compile measured 2.09x more CPU */
	assert_true(fabs(tot.slowdown - 6.2e6 * want / (22e9 - 6.2e6 * want)) <
		    1e-9);
	assert_true(tot.slowdown > 1.9 && tot.slowdown < 2.2);
	/* a server with 2 s of its own syscalls and 100k hits: calibrated */
	assert_int_equal(overhead__update_sys(o, 2, 0, 0, 0, 0), 0);
	assert_int_equal(overhead__update_sys(o, 2, 100000, 4 * SEC, 2 * SEC,
					      10 * SEC), 0);
	assert_true(overhead__get(o, 2, NULL, &tot));
	assert_true(tot.ns_per_hit == 1200.0);
	/* system time unknown: calibrated */
	assert_int_equal(overhead__update(o, 3, 0, 0, 0), 0);
	assert_int_equal(overhead__update(o, 3, 6200000, 10 * SEC, 10 * SEC),
			 0);
	assert_true(overhead__get(o, 3, NULL, &tot));
	assert_true(tot.ns_per_hit == 1200.0);
	/* all: each at its own cost */
	assert_int_equal(overhead__all(o, &all), 3);
	assert_true(fabs(all.probe_ns - (6.2e6 * want + 1.2e8 + 7.44e9)) < 1e3);
	overhead__free(o);
}

/* Under the budget the probes are off most of the time: the steps
 * without hits give the program's own system time per CPU ns, which is
 * taken out of the steps with hits (the whole span's system time per hit
 * would be mostly its own, and fall back to the calibrated cost). */
static void test_cost_on_off(void **state)
{
	struct overhead *o = overhead__new(1000.0);
	struct overhead_est tot;
	double r = 0.39 / 6.5, psys;

	(void)state;
	assert_non_null(o);
	/* on 0.5 s: 150k hits; off 6.5 s; on 0.5 s: 150k hits; each on
	 * step 0.5 s CPU, 0.33 s system; the off 0.39 s system */
	assert_int_equal(overhead__update_sys(o, 1, 0, 0, 0, 0), 0);
	assert_int_equal(overhead__update_sys(o, 1, 150000, SEC / 2,
					      330000000ULL, SEC / 2), 0);
	assert_int_equal(overhead__update_sys(o, 1, 150000, 7 * SEC,
					      720000000ULL, 7 * SEC), 0);
	assert_int_equal(overhead__update_sys(o, 1, 300000, 7 * SEC + SEC / 2,
					      1050000000ULL, 8 * SEC), 0);
	assert_true(overhead__get(o, 1, NULL, &tot));
	psys = (0.66e9 - r * 1e9) / (1 - r * 1.2);
	assert_true(fabs(tot.ns_per_hit - 1.2 * psys / 300000) < 1e-6);
	assert_true(tot.ns_per_hit > 2400 && tot.ns_per_hit < 2700);
	/* the slowdown over the whole span: 0.78 s of 7.5 s CPU */
	assert_true(tot.slowdown > 0.10 && tot.slowdown < 0.13);
	overhead__free(o);
}

/* Attached to a process that ran unprobed before (--pid): its life so
 * far gives its own system time per CPU ns until pauses do. */
static void test_cost_base(void **state)
{
	struct overhead *o = overhead__new(1000.0);
	struct overhead_est tot;
	double psys = (3.0 - 0.4 * 4.0) / (1 - 0.4 * 1.2) * 1e9;

	(void)state;
	assert_non_null(o);
	/* redis-like: 10 s CPU of which 4 s system before; then 1M hits
	 * in 4 s CPU, 3 s of it system */
	assert_int_equal(overhead__update_sys(o, 1, 0, 10 * SEC, 4 * SEC, 0),
			 0);
	assert_int_equal(overhead__update_sys(o, 1, 1000000, 14 * SEC,
					      7 * SEC, 10 * SEC), 0);
	assert_true(overhead__get(o, 1, NULL, &tot));
	assert_true(fabs(tot.ns_per_hit - 1.2 * psys / 1e6) < 1e-6);
	/* a baseline already mostly probed is not its own: all system time
	 * is the probes' (1M hits x 1000 ns of 2 s CPU) */
	assert_int_equal(overhead__update_sys(o, 2, 1000000, 2 * SEC, SEC, 0),
			 0);
	assert_int_equal(overhead__update_sys(o, 2, 2000000, 4 * SEC,
					      2 * SEC, 10 * SEC), 0);
	assert_true(overhead__get(o, 2, NULL, &tot));
	assert_true(fabs(tot.ns_per_hit - 1200) < 1e-6);
	overhead__free(o);
}

/* The rule itself, on its edges. */
static void test_cost_rule(void **state)
{
	struct overhead_situ s = { .has_sys = true, .hits = 1000000 };

	(void)state;
	/* too little system time to tell */
	s.on_sys_ns = SEC / 10;
	s.on_cpu_ns = SEC;
	assert_true(overhead__cost(500, &s) == 500);
	/* 900 ns of system time per hit: 1080 with the refill */
	s.on_sys_ns = 900 * 1000000ULL;
	assert_true(fabs(overhead__cost(500, &s) - 1080) < 1e-6);
	/* more than 3x: its own syscalls */
	s.on_sys_ns = 1600 * 1000000ULL;
	assert_true(overhead__cost(500, &s) == 500);
	/* system time not known */
	s.has_sys = false;
	s.on_sys_ns = 900 * 1000000ULL;
	assert_true(overhead__cost(500, &s) == 500);
	s.has_sys = true;
	/* a calibration that came out high, down to half of it */
	s.on_sys_ns = 300 * 1000000ULL;
	assert_true(overhead__cost(1000, &s) == 500);
	s.on_sys_ns = 470 * 1000000ULL;
	assert_true(fabs(overhead__cost(1000, &s) - 564) < 1e-6);
	/* off steps with too little CPU: the rate is not taken */
	s.off_cpu_ns = SEC / 20;
	s.off_sys_ns = SEC / 20;
	assert_true(fabs(overhead__cost(1000, &s) - 564) < 1e-6);
	/* a process mostly in its own syscalls: calibrated */
	s.off_cpu_ns = SEC;
	s.off_sys_ns = SEC * 6 / 10;
	assert_true(overhead__cost(1000, &s) == 1000);
	/* its own system time is all there is: calibrated */
	s.off_sys_ns = SEC / 2;
	s.on_sys_ns = SEC / 2;
	assert_true(overhead__cost(1000, &s) == 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formula),
		cmocka_unit_test(test_zero_cpu_and_cap),
		cmocka_unit_test(test_backwards),
		cmocka_unit_test(test_forget_and_all),
		cmocka_unit_test(test_many_pids),
		cmocka_unit_test(test_stat_cpu),
		cmocka_unit_test(test_cost_in_place),
		cmocka_unit_test(test_cost_on_off),
		cmocka_unit_test(test_cost_base),
		cmocka_unit_test(test_cost_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
