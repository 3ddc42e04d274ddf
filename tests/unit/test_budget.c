// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_budget.c - the heap-probe budget's duty cycle: a process under its
 * budget is never paused, one over it gets f = B / S with the pause and
 * segment lengths of budget.h, the scale makes a constant allocation rate
 * come out right, hysteresis keeps it from flapping, budget 0 never
 * pauses, a reused pid starts afresh, and the credit keeps a short
 * process (a compile) within its budget.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "model/budget.h"

#define S_NS 1000000000ULL

static const struct budget_opts opts = {
	.max_slowdown = 0.05,
	.first_on_ns = 20 * S_NS,
	.on_ns = 10 * S_NS,
	.on_min_ns = 5 * S_NS,
	.off_min_ns = 1 * S_NS,
	.off_max_ns = 600 * S_NS,
	/* a credit that never binds: the duty cycle alone */
	.grace_ns = 10000 * S_NS,
};

/* Run pid for [*now, until) in 100 ms ticks at full slowdown s (probe
 * time over own time) while on, one CPU busy: the program does rate
 * allocations per second of its own CPU time, slower while probed; *est
 * counts the sampled ones scaled, *truth all of them. */
static void run_step(struct budget *b, uint32_t pid, uint64_t *now,
		     uint64_t until, uint64_t step, double s, double rate,
		     double *est, int *switches)
{

	for (; *now < until; *now += step) {
		enum budget_action a = budget__tick(b, pid, *now);
		struct budget_state st;
		double own;

		if (a != BUDGET_KEEP && switches)
			(*switches)++;
		assert_true(budget__get(b, pid, *now, &st));
		/* cpu_ns = own + probes */
		own = st.on ? (double)step / (1 + s) : (double)step;
		budget__observe(b, pid, st.on ? own * s : 0,
				st.on ? own * (1 + s) : own);
		if (est && st.on)
			*est += rate * own / 1e9 * budget__scale(b, pid);
		if (est)
			est[1] += rate * own / 1e9;
	}
}

static void run(struct budget *b, uint32_t pid, uint64_t *now, uint64_t until,
		double s, double rate, double *est, int *switches)
{
	run_step(b, pid, now, until, S_NS / 10, s, rate, est, switches);
}

static void test_under_budget_never_pauses(void **state)
{
	struct budget *b = budget__new(&opts);
	struct budget_totals t;
	uint64_t now = 0;
	int sw = 0;

	(void)state;
	assert_non_null(b);
	assert_int_equal(budget__start(b, 1, now), 0);
	run(b, 1, &now, 300 * S_NS, 0.04, 1, NULL, &sw);
	assert_int_equal(sw, 0);
	budget__totals(b, now, &t);
	assert_int_equal(t.pauses, 0);
	assert_true(t.on_ns == t.total_ns);
	budget__free(b);
}

static void test_duty_math(void **state)
{
	struct budget *b = budget__new(&opts);
	struct budget_state st;
	uint64_t now = 0, on, off;
	double est[2] = {}, f;

	(void)state;
	/* f = 0.25: pauses of 30 s after 10 s segments */
	f = budget__plan(&opts, 0.25, &on, &off);
	assert_true(on == 10 * S_NS && off == 30 * S_NS);
	assert_true(fabs(f - 0.25) < 1e-9);
	/* f = 0.001: the pause is capped by shortening the segment to its
	 * floor first, then the pause grows past the cap */
	f = budget__plan(&opts, 0.001, &on, &off);
	assert_true(on == 5 * S_NS);
	assert_true(fabs(f - 0.001) < 1e-6);
	/* f = 0.01: 10 min pauses with 6.06 s segments */
	f = budget__plan(&opts, 0.01, &on, &off);
	assert_true(off <= 600 * S_NS + 1 && on < 10 * S_NS && on > 5 * S_NS);
	/* f close to 1: the pause is at least off_min */
	f = budget__plan(&opts, 0.99, &on, &off);
	assert_true(off == 1 * S_NS && f < 0.99);

	/* S = 0.2, B = 0.05: f = 0.25 */
	assert_non_null(b);
	assert_int_equal(budget__start(b, 7, now), 0);
	run(b, 7, &now, 20 * S_NS + 1, 0.2, 1000, est, NULL);
	assert_true(budget__get(b, 7, now, &st));
	assert_false(st.on);
	assert_true(st.cycling);
	assert_true(fabs(st.f - 0.25) < 0.01);
	assert_true(fabs(st.slowdown - 0.2) < 1e-6);
	run(b, 7, &now, 2000 * S_NS, 0.2, 1000, est, NULL);
	budget__get(b, 7, now, &st);
	/* on 25 % of the time after the first segment, and the scaled
	 * count is what the program did (within one cycle's worth) */
	assert_true(fabs((double)st.on_ns / (double)st.total_ns - 0.26) < 0.02);
	assert_true(fabs(est[0] / est[1] - 1) < 0.03);
	/* the slowdown it costs is within the budget */
	assert_true(0.2 * (double)st.on_ns / (double)st.total_ns < 0.055);
	budget__free(b);
}

/* Near the budget: no flapping between full-on and cycling. */
/* Far over budget, the first segment ends at first_short_ns; a little
 * over, it runs its full length. */
static void test_first_short(void **state)
{
	struct budget_opts o = opts;
	struct budget *b;
	struct budget_state st;
	uint64_t now = 0;

	(void)state;
	o.first_short_ns = 2 * S_NS;
	b = budget__new(&o);
	assert_non_null(b);
	assert_int_equal(budget__start(b, 1, now), 0);
	assert_int_equal(budget__start(b, 2, now), 0);
	/* pid 1: S = 1.0 (20 x B); pid 2: S = 0.1 (2 x B) */
	run(b, 1, &now, 3 * S_NS, 1.0, 1, NULL, NULL);
	assert_true(budget__get(b, 1, now, &st));
	assert_false(st.on);
	now = 0;
	run(b, 2, &now, 3 * S_NS, 0.1, 1, NULL, NULL);
	assert_true(budget__get(b, 2, now, &st));
	assert_true(st.on);
	run(b, 2, &now, 21 * S_NS, 0.1, 1, NULL, NULL);
	assert_true(budget__get(b, 2, now, &st));
	assert_false(st.on);
	budget__free(b);
}

static void test_hysteresis(void **state)
{
	struct budget *b = budget__new(&opts);
	struct budget_state st;
	uint64_t now = 0;
	int sw = 0;

	(void)state;
	assert_int_equal(budget__start(b, 3, now), 0);
	run(b, 3, &now, 100 * S_NS, 0.06, 1, NULL, NULL);
	assert_true(budget__get(b, 3, now, &st));
	assert_true(st.cycling);
	assert_true(st.pauses >= 1);
	/* the load drops to just under the budget: still cycling (f = 1,
	 * nothing paused), not back to full-on until S <= 0.8 B */
	run(b, 3, &now, 200 * S_NS, 0.045, 1, NULL, NULL);
	budget__get(b, 3, now, &st);
	assert_true(st.cycling);
	assert_true(st.on);
	run(b, 3, &now, 300 * S_NS, 0.045, 1, NULL, &sw);
	assert_int_equal(sw, 0);
	run(b, 3, &now, 400 * S_NS, 0.03, 1, NULL, &sw);
	budget__get(b, 3, now, &st);
	assert_false(st.cycling);
	assert_int_equal(sw, 0);
	/* f does not creep up by small steps */
	run(b, 3, &now, 600 * S_NS, 0.5, 1, NULL, NULL);
	budget__get(b, 3, now, &st);
	assert_true(fabs(st.f - 0.1) < 0.01);
	run(b, 3, &now, 1200 * S_NS, 0.47, 1, NULL, NULL);
	budget__get(b, 3, now, &st);
	assert_true(fabs(st.f - 0.1) < 0.01);
	/* a real drop in cost raises it */
	run(b, 3, &now, 2000 * S_NS, 0.25, 1, NULL, NULL);
	budget__get(b, 3, now, &st);
	assert_true(fabs(st.f - 0.2) < 0.01);
	budget__free(b);
}

static void test_unlimited(void **state)
{
	struct budget_opts o = opts;
	struct budget *b;
	uint64_t now = 0;
	int sw = 0;

	(void)state;
	o.max_slowdown = 0;
	b = budget__new(&o);
	assert_int_equal(budget__start(b, 9, now), 0);
	run(b, 9, &now, 500 * S_NS, 10.0, 1, NULL, &sw);
	assert_int_equal(sw, 0);
	assert_true(budget__scale(b, 9) == 1);
	budget__free(b);
}

/* The switch cost counts: it lowers f. */
static void test_switch_cost(void **state)
{
	struct budget *b = budget__new(&opts);
	struct budget_state st;
	uint64_t now = 0;

	(void)state;
	assert_int_equal(budget__start(b, 4, now), 0);
	budget__switch_cost(b, 4, 0.5e9);	/* 0.05 of a 10 s segment */
	run(b, 4, &now, 20 * S_NS + 1, 0.2, 1, NULL, NULL);
	assert_true(budget__get(b, 4, now, &st));
	assert_true(fabs(st.f - 0.05 / 0.25) < 0.01);
	budget__free(b);
}

/* Probe time estimated past the CPU time measured: over budget, not 0. */
static void test_probes_past_cpu(void **state)
{
	struct budget *b = budget__new(&opts);
	struct budget_state st;
	uint64_t t;

	(void)state;
	assert_int_equal(budget__start(b, 6, 0), 0);
	for (t = 0; t <= 20 * S_NS; t += S_NS / 10) {
		budget__observe(b, 6, 2e8, 1e8);
		budget__tick(b, 6, t);
	}
	assert_true(budget__get(b, 6, t, &st));
	assert_false(st.on);
	assert_true(st.slowdown > 90);
	budget__free(b);
}

static void test_pid_reuse(void **state)
{
	struct budget *b = budget__new(&opts);
	struct budget_totals t;
	struct budget_state st;
	uint64_t now = 0;

	(void)state;
	assert_int_equal(budget__start(b, 5, now), 0);
	run(b, 5, &now, 40 * S_NS, 1.0, 1, NULL, NULL);
	assert_true(budget__get(b, 5, now, &st));
	assert_false(st.on);
	assert_true(budget__scale(b, 77) == 1);
	assert_false(budget__get(b, 77, now, &st));
	/* exited; a new process gets the same pid: on, calibrating */
	budget__forget(b, 5, now);
	assert_false(budget__get(b, 5, now, &st));
	assert_int_equal(budget__start(b, 5, now), 0);
	assert_true(budget__get(b, 5, now, &st));
	assert_true(st.on && !st.cycling && st.pauses == 0);
	assert_true(budget__scale(b, 5) == 1);
	assert_int_equal(budget__tick(b, 5, now + S_NS), BUDGET_KEEP);
	/* a start over a known pid starts afresh too */
	run(b, 5, &now, 61 * S_NS, 1.0, 1, NULL, NULL);
	assert_int_equal(budget__start(b, 5, now), 0);
	assert_true(budget__get(b, 5, now, &st) && st.on && st.pauses == 0);
	/* the forgotten ones still count in the totals */
	budget__totals(b, now, &t);
	assert_true(t.pauses >= 2);
	assert_true(t.total_ns == 61 * S_NS);
	assert_true(t.on_ns < t.total_ns);
	budget__free(b);
}

/* A compile's cc1plus at the default credit: S = 1.8 (a hit every
 * 0.56 us of own work at ~1 us each), 4 s long, decided every 20 ms as
 * the session does (budget__due). The probes cost it about the budget
 * (B x own CPU + the grace + one tick's worth), it is sampled again
 * after the first pause, and the scaled count is the true one. */
/* An idle process (sleep): a few hundred startup calls, 0.12 ms of probe
 * time over 0.5 ms of CPU, then nothing. Its ratio is far over the
 * budget, its cost is nothing: the probes stay on, or the one line that
 * says it makes no allocation calls could never be said. */
static void test_idle_never_pauses(void **state)
{
	struct budget_opts o = opts;
	const uint64_t step = 250 * 1000 * 1000;
	struct budget_state st;
	struct budget *b;
	uint64_t now = 0;

	(void)state;
	o.first_on_ns = 2 * S_NS;
	o.on_ns = 40 * S_NS;
	b = budget__new(&o);
	assert_non_null(b);
	assert_int_equal(budget__start(b, 1, now), 0);
	budget__observe(b, 1, 0.12e6, 0.5e6);
	for (; now < 10 * S_NS; now += step) {
		assert_int_equal(budget__tick(b, 1, now), BUDGET_KEEP);
		budget__observe(b, 1, 0, 1000);
	}
	assert_true(budget__get(b, 1, now, &st));
	assert_true(st.on);
	assert_int_equal(st.pauses, 0);
	budget__free(b);
}

static void test_credit_short_process(void **state)
{
	struct budget_opts o = opts;
	const uint64_t step = 20 * 1000 * 1000;
	double est[2] = {}, probe = 0, own = 0, s = 1.8;
	struct budget_state st;
	struct budget *b;
	uint64_t now = 0;
	int segs = 1;

	(void)state;
	o.first_on_ns = 2 * S_NS;
	o.on_ns = 40 * S_NS;
	o.grace_ns = 0;		/* the default */
	b = budget__new(&o);
	assert_non_null(b);
	assert_int_equal(budget__start(b, 1, now), 0);
	/* nothing measured yet: a decision is due at once */
	assert_true(budget__due(b, 1, now) == now);
	assert_true(budget__credit(b, 1) == (double)BUDGET_GRACE_NS);
	for (; now < 4 * S_NS; now += step) {
		enum budget_action a = budget__tick(b, 1, now);
		double d;

		segs += a == BUDGET_RESUME;
		assert_true(budget__get(b, 1, now, &st));
		d = st.on ? (double)step / (1 + s) : (double)step;
		budget__observe(b, 1, st.on ? d * s : 0,
				st.on ? d * (1 + s) : d);
		probe += st.on ? d * s : 0;
		own += d;
		if (st.on)
			est[0] += d * budget__scale(b, 1);
		est[1] += d;
	}
	/* within the budget: the grace and a tick of probes beyond it */
	assert_true(probe <= 0.05 * own + (double)BUDGET_GRACE_NS +
			     (double)step * s / (1 + s));
	assert_true(probe / own < 0.07);
	/* sampled again later in its life, not only at its start */
	assert_true(segs >= 2);
	assert_true(st.pauses >= 2);
	/* the allocations of the paused time are scaled in: a constant
	 * rate comes out right within the last pause's share */
	assert_true(fabs(est[0] / est[1] - 1) < 0.35);
	budget__free(b);
}

/* budget__due: the credit's end, predicted from the running segment. */
static void test_due(void **state)
{
	struct budget_opts o = opts;
	struct budget *b;
	uint64_t due;
	double expect;

	(void)state;
	o.grace_ns = 0;
	b = budget__new(&o);
	assert_int_equal(budget__start(b, 2, 0), 0);
	assert_true(budget__due(b, 3, 0) == UINT64_MAX);
	/* 2 ms of probes in 20 ms of CPU over 20 ms: S = 2/18 > B, the
	 * credit (the grace - 2 ms + 0.05 x 18 ms) drains at
	 * (2 - 0.9) ms per 20 ms */
	budget__observe(b, 2, 2e6, 20e6);
	assert_int_equal(budget__tick(b, 2, 20 * 1000 * 1000), BUDGET_KEEP);
	due = budget__due(b, 2, 20 * 1000 * 1000);
	expect = 20e6 + ((double)BUDGET_GRACE_NS - 1.1e6) / (1.1e6 / 20e6);
	assert_true(fabs((double)due - expect) < 1e6);
	budget__free(b);
}

/* A forked child measured idle before its exec, then allocating hard in
 * its new image: its decisions are due at every tick of a young segment,
 * again after budget__restart (the exec), and the first tick past its
 * grace pauses it. A paused process is not restarted. */
static void test_new_image(void **state)
{
	const uint64_t ms = 1000 * 1000;
	struct budget_opts o = opts;
	struct budget_state st;
	struct budget *b;

	(void)state;
	o.grace_ns = 0;
	o.first_short_ns = 500 * ms;
	b = budget__new(&o);
	assert_int_equal(budget__start(b, 2, 0), 0);
	budget__observe(b, 2, 0, 1e6);
	assert_int_equal(budget__tick(b, 2, 30 * ms), BUDGET_KEEP);
	assert_true(budget__due(b, 2, 30 * ms) == 30 * ms);
	/* past the young window, idle: nothing due before the segment end */
	budget__observe(b, 2, 0, 1e6);
	assert_int_equal(budget__tick(b, 2, 600 * ms), BUDGET_KEEP);
	assert_true(budget__due(b, 2, 600 * ms) > 1000 * ms);
	budget__restart(b, 2, 600 * ms);
	assert_true(budget__due(b, 2, 610 * ms) == 610 * ms);
	/* 8 ms of probes in 20 ms of CPU: past the 5 ms grace */
	budget__observe(b, 2, 8e6, 20e6);
	assert_true(budget__due(b, 2, 620 * ms) == 620 * ms);
	assert_int_equal(budget__tick(b, 2, 620 * ms), BUDGET_PAUSE);
	budget__restart(b, 2, 630 * ms);
	assert_true(budget__get(b, 2, 630 * ms, &st));
	assert_false(st.on);
	assert_int_equal(st.pauses, 1);
	budget__free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_under_budget_never_pauses),
		cmocka_unit_test(test_duty_math),
		cmocka_unit_test(test_first_short),
		cmocka_unit_test(test_hysteresis),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_switch_cost),
		cmocka_unit_test(test_probes_past_cpu),
		cmocka_unit_test(test_pid_reuse),
		cmocka_unit_test(test_credit_short_process),
		cmocka_unit_test(test_idle_never_pauses),
		cmocka_unit_test(test_due),
		cmocka_unit_test(test_new_image),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
