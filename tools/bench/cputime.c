// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cputime.c - run a command and record the CPU time it used, for `make
 * bench` (which measures profilers' own CPU cost).
 *
 * Usage: cputime FILE COMMAND [ARG...]
 *
 * Writes "pid N" to FILE as soon as COMMAND is started (so the caller can
 * read /proc/N/stat mid-run), then, once it has exited, appends
 * "utime_us U", "stime_us S" and "maxrss_kb K" from wait4(): the whole
 * process, every thread, up to its last instruction, which /proc/N/stat can
 * no longer show once the process is gone. SIGINT, SIGTERM and SIGHUP are
 * passed on to COMMAND. Exits with COMMAND's status (128 + signal number if
 * a signal ended it). GNU time would do, but is not installed everywhere.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig)
{
	/* 0 in the child between fork() and exec(): kill(0, ...) would
	 * signal the whole process group. */
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	struct rusage ru;
	FILE *f = NULL;
	int status, rc = 1;
	unsigned int i;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: %s FILE COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "w");
	if (!f) {
		fprintf(stderr, "cputime: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}

	/* A handler, not SIG_IGN: background jobs of a non-interactive shell
	 * start with SIGINT ignored, and exec() keeps ignored signals ignored
	 * but resets handled ones to their default in COMMAND. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL)) {
			perror("cputime: sigaction");
			goto cleanup;
		}
	}

	pid = fork();
	if (pid < 0) {
		perror("cputime: fork");
		goto cleanup;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "cputime: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	child = pid;
	fprintf(f, "pid %d\n", (int)pid);
	fflush(f);

	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("cputime: wait4");
			goto cleanup;
		}
	}
	fprintf(f, "utime_us %lld\nstime_us %lld\nmaxrss_kb %ld\n",
		(long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
		(long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec,
		ru.ru_maxrss);
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
cleanup:
	if (f && fclose(f) && rc == 0) {
		perror("cputime: close");
		rc = 1;
	}
	return rc;
}
