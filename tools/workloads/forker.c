// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * forker.c - a parent and its forked children allocating known counts at
 * known sites, for the process-tree tests. The parent keeps 10 blocks of
 * 3000 bytes from parent_site(); child i (0-based) keeps 20 + 10*i blocks
 * of 1000 + i bytes from child_site() and prints "child I PID". Children
 * stay a moment before exiting so a profiler attached by pid still finds
 * them mapped; the parent waits for them and prints "done".
 *
 *   forker [--children N] [--child-ms MS] [--after] [--nocldwait]
 *          [--wait-signal] [--hold]
 *
 * --wait-signal prints "ready PID" and waits for SIGUSR1 before any of
 * that; --hold keeps the parent alive after "done" until SIGTERM/SIGINT.
 * --child-ms sets how long the children stay (500 ms). --after: while it
 * waits for them, each SIGUSR2 makes the parent keep 5 blocks of 4000
 * bytes from signal_site() (printing "signalled"), and once they are
 * reaped it keeps 8 blocks of 2000 bytes from after_site(): what a
 * process allocates as it leaves a wait. --nocldwait ignores SIGCHLD (the
 * children are reaped by the kernel, and no signal tells the parent).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static volatile sig_atomic_t released, usr2;

static void on_usr1(int sig)
{
	(void)sig;
	released = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2 = 1;
}

__attribute__((noinline)) void *parent_site(size_t n)
{
	void *p = malloc(n);

	asm volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *child_site(size_t n)
{
	void *p = malloc(n);

	asm volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *signal_site(size_t n)
{
	void *p = malloc(n);

	asm volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *after_site(size_t n)
{
	void *p = malloc(n);

	asm volatile("" ::: "memory");
	return p;
}

static void *volatile keep[64];
static void *volatile kept_after[64];

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

int main(int argc, char **argv)
{
	int i, j, n_children = 2, wait_sig = 0, hold = 0, after = 0, k = 0;
	long child_ms = 500;
	sigset_t set, old;
	struct sigaction sa;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--children") && i + 1 < argc)
			n_children = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--wait-signal"))
			wait_sig = 1;
		else if (!strcmp(argv[i], "--hold"))
			hold = 1;
		else if (!strcmp(argv[i], "--after"))
			after = 1;
		else if (!strcmp(argv[i], "--nocldwait"))
			signal(SIGCHLD, SIG_IGN);
		else if (!strcmp(argv[i], "--child-ms") && i + 1 < argc)
			child_ms = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: forker [--children N] [--child-ms MS] [--after] [--nocldwait] [--wait-signal] [--hold]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (wait_sig) {
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, &old);
		signal(SIGUSR1, on_usr1);
		printf("ready %d\n", getpid());
		while (!released)
			sigsuspend(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (after) {
		/* no SA_RESTART: the signal ends the wait */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr2;
		sigaction(SIGUSR2, &sa, NULL);
	}
	for (j = 0; j < 10; j++)
		keep[j] = parent_site(3000);
	for (i = 0; i < n_children; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			for (j = 0; j < 20 + 10 * i && j < 64; j++)
				keep[j] = child_site(1000 + i);
			printf("child %d %d\n", i, getpid());
			nap_ms(child_ms);
			_exit(0);
		}
	}
	for (;;) {
		if (wait(NULL) > 0)
			continue;
		if (!usr2)
			break;
		usr2 = 0;
		for (j = 0; j < 5 && k < 64; j++)
			kept_after[k++] = signal_site(4000);
		printf("signalled\n");
	}
	for (j = 0; after && j < 8 && k < 64; j++)
		kept_after[k++] = after_site(2000);
	printf("done\n");
	if (hold)
		pause();
	return 0;
}
