// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * launch.c - run `-- COMMAND` under ptrace.
 *
 * The child asks to be traced and execs; the exec stop leaves only the
 * executable and ld.so mapped. If the allocator is in a library, we step
 * the loader syscall by syscall until its first arch_prctl(ARCH_SET_FS) or
 * set_tid_address: glibc's loader sets up the thread pointer only after
 * every DT_NEEDED library is mapped, and before relocation and
 * constructors, so probes attached there see every allocation of user
 * code. Tracing stays on (PTRACE_O_TRACEEXIT) so that at exit the target
 * stops with its memory still mapped while we drain its last events.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "attach/launch.h"

int launch__start(char *const argv[], pid_t *pidp)
{
	int pfd[2], status, child_errno = 0;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(pfd[0]);
		close(pfd[1]);
		return err;
	}
	if (pid == 0) {
		close(pfd[0]);
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0)
			execvp(argv[0], argv);
		child_errno = errno;
		if (write(pfd[1], &child_errno, sizeof(child_errno)) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], &child_errno, sizeof(child_errno));
	close(pfd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (n == (ssize_t)sizeof(child_errno)) {
		if (!WIFEXITED(status) && !WIFSIGNALED(status))
			waitpid(pid, &status, 0);
		return -child_errno;
	}
	/* a traced child stops with SIGTRAP after a successful execve */
	if (!WIFSTOPPED(status)) {
		return -ECHILD;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXIT |
				  PTRACE_O_EXITKILL))) {
		int err = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return err;
	}
	*pidp = pid;
	return 0;
}

/* waitpid() with a deadline: a program that never makes a syscall (a
 * spinning static binary) must not hang the profiler. */
static int wait_stop(pid_t pid, int *status, int timeout_ms)
{
	struct timespec ts = { 0, 200 * 1000 };
	long waited_us = 0;
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG | __WALL);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (waited_us / 1000 >= timeout_ms)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		waited_us += 200;
	}
}

int launch__run_to_libs(pid_t pid)
{
	struct user_regs_struct regs;
	int status, sig = 0, i, err;

	/* bounded: a loader maps its libraries in a few hundred syscalls */
	for (i = 0; i < 20000; i++) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig))
			return -errno;
		sig = 0;
		err = wait_stop(pid, &status, 10000);
		if (err)
			return err;
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
		if (!WIFSTOPPED(status))
			continue;
		if (WSTOPSIG(status) == (SIGTRAP | 0x80)) {
			if (ptrace(PTRACE_GETREGS, pid, NULL, &regs))
				return -errno;
			/* orig_rax is the syscall number at entry and exit;
			 * at entry rax is -ENOSYS */
			if ((long)regs.rax == -ENOSYS &&
			    (regs.orig_rax == SYS_arch_prctl ||
			     regs.orig_rax == SYS_set_tid_address)) {
				/* finish this syscall so the child is
				 * stopped at a clean point */
				if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
					return -errno;
				err = wait_stop(pid, &status, 10000);
				if (err)
					return err;
				if (WIFEXITED(status) || WIFSIGNALED(status))
					return -ESRCH;
				return 0;
			}
		} else if (status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8))) {
			return -ESRCH;
		} else if (WSTOPSIG(status) != SIGTRAP) {
			sig = WSTOPSIG(status);
		}
	}
	return -ETIMEDOUT;
}

int launch__resume(pid_t pid)
{
	return ptrace(PTRACE_CONT, pid, NULL, NULL) ? -errno : 0;
}

enum launch_state launch__poll(pid_t pid, int *status)
{
	int st;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &st, WNOHANG | __WALL);
		if (r == 0)
			return LAUNCH_RUNNING;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*status = 0;
			return LAUNCH_EXITED;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			*status = st;
			return LAUNCH_EXITED;
		}
		if (!WIFSTOPPED(st))
			continue;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8)))
			return LAUNCH_EXITING;
		/* signal-delivery-stop: pass the signal on; our own traps
		 * (SIGTRAP from exec events) are swallowed */
		ptrace(PTRACE_CONT, pid, NULL,
		       (void *)(long)(WSTOPSIG(st) == SIGTRAP ? 0 :
				      WSTOPSIG(st)));
	}
}

void launch__terminate(pid_t pid, int grace_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int status, waited = 0;

	kill(pid, SIGTERM);
	for (;;) {
		enum launch_state s = launch__poll(pid, &status);

		if (s == LAUNCH_EXITED)
			return;
		if (s == LAUNCH_EXITING)
			launch__resume(pid);
		if (waited >= grace_ms) {
			kill(pid, SIGKILL);
			grace_ms = 1 << 30;
		}
		nanosleep(&ts, NULL);
		waited += 10;
	}
}
