/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * launch.h - start `-- COMMAND` under ptrace so probes are attached before
 * it runs any code of its own, and watch it until it exits.
 */
#ifndef MEMTEL_LAUNCH_H
#define MEMTEL_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

/* Fork and exec argv; returns with the child stopped right after execve
 * (only the executable and the dynamic loader mapped). 0 or -errno; on a
 * failed exec, -errno of execvp with the child reaped. */
int launch__start(char *const argv[], pid_t *pid);
/* Let the stopped child run its dynamic loader until every startup library
 * is mapped, stopping before TLS setup, relocation and constructors.
 * 0, or -ESRCH if it exited meanwhile. */
int launch__run_to_libs(pid_t pid);
/* Resume the child, still traced so its exit can be caught. 0 or -errno. */
int launch__resume(pid_t pid);

enum launch_state {
	LAUNCH_RUNNING,
	LAUNCH_EXITING,	/* stopped at exit, memory still mapped: drain, then
			 * launch__resume() */
	LAUNCH_EXITED,	/* gone and reaped; *status is its wait status */
};

/* Non-blocking: handle pending ptrace stops (signals are passed on). */
enum launch_state launch__poll(pid_t pid, int *status);
/* End a child that is still running: SIGTERM, then SIGKILL after
 * grace_ms; reaps it. */
void launch__terminate(pid_t pid, int grace_ms);

#endif /* MEMTEL_LAUNCH_H */
