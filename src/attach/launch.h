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
	LAUNCH_RUNNING,	/* nothing (more) to report now */
	LAUNCH_FORKED,	/* ev->pid is a new process of ev->parent, both
			 * stopped: attach, then launch__resume() both */
	LAUNCH_EXECED,	/* ev->pid exec'd, stopped at its exec (only the
			 * executable and ld.so mapped): re-resolve, then
			 * launch__resume() */
	LAUNCH_EXITING,	/* ev->pid stopped at exit, memory still mapped:
			 * drain, then launch__resume() */
	LAUNCH_EXITED,	/* ev->pid gone and reaped; ev->status is its wait
			 * status */
};

struct launch_event {
	pid_t pid;
	pid_t parent;	/* LAUNCH_FORKED */
	int status;	/* LAUNCH_EXITED */
};

/* Non-blocking: handle pending ptrace stops of every traced process and
 * thread (signals are passed on, new threads let go) until one needs the
 * caller (or none is pending: LAUNCH_RUNNING). */
enum launch_state launch__next(struct launch_event *ev);
/* fn(ctx, tid, sig) is called at every signal-delivery-stop of a tracee
 * (tid: the thread), before launch__next() resumes it with its signal;
 * NULL: none. A process blocked in wait4() leaves it only through such a
 * stop (a signal) or a child's exit, which launch__next() reports before
 * the parent learns of it (LAUNCH_EXITING). */
void launch__on_signal(void (*fn)(void *ctx, pid_t tid, int sig),
			void *ctx);
/* Traced processes still alive (0: the session's tree has exited). */
size_t launch__processes(void);
/* End every traced process: SIGTERM, then SIGKILL after grace_ms; reaps
 * them all. */
void launch__terminate(int grace_ms);

#endif /* MEMTEL_LAUNCH_H */
