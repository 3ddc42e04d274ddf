// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * calibrate.c - measure what one heap probe hit costs on this kernel, so
 * that model/overhead.c can turn hit counts into an estimated slowdown.
 *
 * A forked child of ours runs CALIB_PAIRS malloc/free pairs per round on
 * command and reports the CPU time of its thread for the round (the kernel
 * accounts the uprobe trap and the BPF program to it; preemption by other
 * load on the machine is not counted). Rounds run unprobed first; then the
 * child is tracked and gets the heap probes a target of its allocator gets
 * (allocator__find + allocator__plan, the loaded programs, the same
 * session/uretprobe mode), one warm-up round (first hits map the
 * out-of-line page, fault in the maps), and probed rounds. Each probed
 * round gives (t_probed - median t_bare) / its hits; the result is the
 * median, clamped to [CALIBRATE_MIN_NS, CALIBRATE_MAX_NS].
 *
 * The child's sampled records are dropped (probes__ignore) and it is
 * untracked, detached, killed and reaped before we return, so it appears in
 * no output. A failure anywhere gives CALIBRATE_DEFAULT_NS.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "attach/allocator.h"
#include "attach/calibrate.h"
#include "util/clock.h"
#include "util/log.h"

#define CALIB_PAIRS		3000	/* malloc/free pairs per round */
#define CALIB_WARM_PAIRS	300	/* of the warm-up round */
#define CALIB_ROUNDS		5
#define CALIB_MIN_ROUNDS	3
#define CALIB_MAX_ROUNDS	15
/* stop adding rounds past this: the whole takes < 300 ms with attach
 * (~20 ms for a session link) and detach (~50 ms, docs/PLATFORM.md) */
#define CALIB_BUDGET_NS		(180ULL * 1000 * 1000)

/* Through a volatile pointer: the compiler may not elide a malloc/free
 * pair it can see. */
static void *(*volatile calib_malloc)(size_t) = malloc;
static void (*volatile calib_free)(void *) = free;

/* The child: one round per command byte, its CPU time written back. */
static void __attribute__((noreturn)) child_main(int cmd, int res)
{
	uint64_t t0, dt;
	char c;
	int i;

	while (read(cmd, &c, 1) == 1 && (c == 'r' || c == 'w')) {
		int n = c == 'w' ? CALIB_WARM_PAIRS : CALIB_PAIRS;

		t0 = clock__thread_cpu_ns();
		for (i = 0; i < n; i++)
			calib_free(calib_malloc(32 + (size_t)(i & 7) * 16));
		dt = clock__thread_cpu_ns() - t0;
		if (write(res, &dt, sizeof(dt)) != sizeof(dt))
			break;
	}
	_exit(0);
}

struct calib_child {
	pid_t pid;
	int cmd, res;		/* our ends of the pipes */
};

static int child_start(struct calib_child *c)
{
	int cmd[2], res[2];

	if (pipe2(cmd, O_CLOEXEC))
		return -errno;
	if (pipe2(res, O_CLOEXEC)) {
		close(cmd[0]);
		close(cmd[1]);
		return -errno;
	}
	c->pid = fork();
	if (c->pid < 0) {
		c->pid = 0;
		close(cmd[0]);
		close(cmd[1]);
		close(res[0]);
		close(res[1]);
		return -errno;
	}
	if (c->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(cmd[1]);
		close(res[0]);
		child_main(cmd[0], res[1]);
	}
	close(cmd[0]);
	close(res[1]);
	c->cmd = cmd[1];
	c->res = res[0];
	return 0;
}

/* One round ('r', or 'w' a short warm-up): the child's CPU ns, or 0 if
 * it did not answer. */
static uint64_t child_round(struct calib_child *c, char r)
{
	uint64_t dt = 0;

	if (write(c->cmd, &r, 1) != 1 ||
	    read(c->res, &dt, sizeof(dt)) != sizeof(dt))
		return 0;
	return dt;
}

static void child_stop(struct calib_child *c)
{
	if (!c->pid)
		return;
	close(c->cmd);
	close(c->res);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
		;
	c->pid = 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Attach the heap probes the child's allocator gets as a target. */
static int child_attach(struct probes *p, pid_t pid)
{
	struct probe_point pts[MT_OP__COUNT];
	struct allocator a;
	size_t n = 0;
	int err;

	err = probes__track(p, pid);
	if (err)
		return err;
	err = allocator__find(pid, &a);
	if (!err)
		err = allocator__plan(&a, pts, &n);
	if (!err)
		err = probes__attach_pid(p, pid, &a, pts, n);
	if (err >= 0 && !n)
		err = -ENOENT;
	return err < 0 ? err : 0;
}

/* The probed rounds' costs per hit into cost[]; how many. */
static size_t probed_rounds(struct probes *p, struct calib_child *c,
			    double bare, unsigned int rounds, uint64_t start,
			    double *cost)
{
	uint64_t h0, h1, dt;
	size_t n = 0;

	/* a loaded machine stretches every phase: the budget cuts rounds
	 * past the third, never below */
	while (n < rounds && (n < CALIB_MIN_ROUNDS ||
			      clock__mono_ns() - start < CALIB_BUDGET_NS)) {
		if (probes__hits(p, c->pid, &h0))
			break;
		dt = child_round(c, 'r');
		if (!dt || probes__hits(p, c->pid, &h1))
			break;
		if (h1 <= h0)
			break;		/* not probed: no figure */
		cost[n++] = ((double)dt - bare) / (double)(h1 - h0);
	}
	return n;
}

int calibrate__hit_cost(struct probes *p, unsigned int rounds,
			double *ns_per_hit)
{
	double bare[CALIB_MAX_ROUNDS], cost[CALIB_MAX_ROUNDS], b, v;
	uint64_t start = clock__mono_ns(), dt;
	struct calib_child c = { 0 };
	size_t n = 0, i;
	pid_t pid;
	int err;

	*ns_per_hit = CALIBRATE_DEFAULT_NS;
	if (!rounds)
		rounds = CALIB_ROUNDS;
	if (rounds > CALIB_MAX_ROUNDS)
		rounds = CALIB_MAX_ROUNDS;
	err = child_start(&c);
	if (err)
		return err;
	probes__ignore(p, c.pid);
	/* a first round warms the child's heap, then the bare rounds */
	for (i = 0; i <= rounds; i++) {
		dt = child_round(&c, 'r');
		if (!dt) {
			err = -EPIPE;
			goto cleanup;
		}
		if (i)
			bare[i - 1] = (double)dt;
	}
	b = median(bare, rounds);
	err = child_attach(p, c.pid);
	if (err)
		goto cleanup;
	/* warm-up: the first hits map the out-of-line page and fault in */
	if (!child_round(&c, 'w')) {
		err = -EPIPE;
		goto cleanup;
	}
	n = probed_rounds(p, &c, b, rounds, start, cost);
	if (!n) {
		err = -ENODATA;
		goto cleanup;
	}
	v = median(cost, n);
	if (v < CALIBRATE_MIN_NS)
		v = CALIBRATE_MIN_NS;
	if (v > CALIBRATE_MAX_NS)
		v = CALIBRATE_MAX_NS;
	*ns_per_hit = v;
	mt_debug("calibration child %d: %.0f ns per heap probe hit (median of %zu rounds of %d malloc/free pairs; %.1f ns per pair unprobed)",
		 (int)c.pid, v, n, CALIB_PAIRS, b / CALIB_PAIRS);

cleanup:
	/* dead first: its probes then fire no more while the link closes */
	pid = c.pid;
	child_stop(&c);
	if (pid) {
		probes__untrack(p, pid);
		probes__detach_pid(p, pid);
	}
	/* the child's sampled records are in the ring: drop them now, then
	 * stop ignoring its pid (a later process may get it); for at most
	 * 250 ms, since the node agent's CPU sampler may keep the ring busy
	 * on a loaded host */
	probes__drain_until(p, clock__mono_ns() + 250000000ULL);
	probes__ignore(p, 0);
	return err;
}
