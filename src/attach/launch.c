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
 *
 * The whole tree is followed (PTRACE_O_TRACEFORK/VFORK/CLONE/EXEC): a new
 * process is reported while it and its parent are stopped, before it runs,
 * so its probes go in first; an exec is reported at its exec stop (only
 * the new executable and ld.so mapped), from where launch__run_to_libs()
 * takes it to the same point as the first program. New threads are simply
 * let go.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
#include "util/clock.h"
#include "util/u64map.h"

/* Every tracee by tid: LT_* flags. Threads and processes alike stop at
 * their start, exit and signals, so all must be known to be resumed. */
#define LT_STARTED	0x1	/* its initial SIGSTOP has been taken */
#define LT_PROCESS	0x2	/* a thread-group leader we report on */
static struct u64map tracees;
static size_t n_processes;
static void (*signal_fn)(void *ctx, pid_t tid, int sig);
static void *signal_ctx;

void launch__on_signal(void (*fn)(void *ctx, pid_t tid, int sig),
			void *ctx)
{
	signal_fn = fn;
	signal_ctx = ctx;
}

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
				  PTRACE_O_EXITKILL | PTRACE_O_TRACEFORK |
				  PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
				  PTRACE_O_TRACEEXEC)) ||
	    u64map__set(&tracees, (uint64_t)pid, LT_STARTED | LT_PROCESS)) {
		int err = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return err;
	}
	n_processes = 1;
	*pidp = pid;
	return 0;
}

/* waitpid() with a deadline: a program that never makes a syscall (a
 * spinning static binary) must not hang the profiler. */
static int wait_stop(pid_t pid, int *status, int timeout_ms)
{
	uint64_t start = clock__mono_ns(), waited;
	struct timespec ts = { 0, 0 };
	pid_t r;

	for (;;) {
		r = waitpid(pid, status, WNOHANG | __WALL);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		waited = clock__mono_ns() - start;
		if (waited / 1000000 >= (uint64_t)timeout_ms)
			return -ETIMEDOUT;
		/* a syscall stop of a loader comes within microseconds:
		 * yield for the first 100 us (the 200 us naps made each of
		 * cc1plus's 154 startup stops cost 75 us), then nap */
		if (waited < 100000) {
			sched_yield();
			continue;
		}
		ts.tv_nsec = 200 * 1000;
		nanosleep(&ts, NULL);
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

/* Is tid a thread of parent's process (CLONE_THREAD) rather than a new
 * process? /proc/PID/task/TID exists only within one thread group. */
static bool same_group(pid_t parent, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", parent, tid);
	return access(path, F_OK) == 0;
}

/* The new tracee's first stop (its SIGSTOP), unless already taken. */
static int take_start(pid_t child)
{
	uint64_t *f = u64map__get(&tracees, (uint64_t)child);
	int status, err;

	if (f && (*f & LT_STARTED))
		return 0;
	err = wait_stop(child, &status, 2000);
	if (err)
		return err;
	if (WIFEXITED(status) || WIFSIGNALED(status))
		return -ESRCH;
	return u64map__set(&tracees, (uint64_t)child,
			   (f ? *f : 0) | LT_STARTED);
}

/* A fork/vfork/clone event stop of parent: a thread is let go, a process
 * is registered and reported, both stopped. */
static enum launch_state on_new_tracee(pid_t parent, struct launch_event *ev)
{
	unsigned long msg = 0;
	pid_t child;
	uint64_t *f;

	if (ptrace(PTRACE_GETEVENTMSG, parent, NULL, &msg) || !msg) {
		ptrace(PTRACE_CONT, parent, NULL, NULL);
		return LAUNCH_RUNNING;
	}
	child = (pid_t)msg;
	if (take_start(child)) {
		/* gone already (or never stopped): nothing to attach to */
		u64map__del(&tracees, (uint64_t)child, NULL);
		ptrace(PTRACE_CONT, parent, NULL, NULL);
		return LAUNCH_RUNNING;
	}
	if (same_group(parent, child)) {
		ptrace(PTRACE_CONT, child, NULL, NULL);
		ptrace(PTRACE_CONT, parent, NULL, NULL);
		return LAUNCH_RUNNING;
	}
	f = u64map__get(&tracees, (uint64_t)child);
	if (f && !(*f & LT_PROCESS)) {
		*f |= LT_PROCESS;
		n_processes++;
	}
	ev->pid = child;
	ev->parent = parent;
	return LAUNCH_FORKED;
}

enum launch_state launch__next(struct launch_event *ev)
{
	uint64_t *f;
	int st, event;
	pid_t r;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		r = waitpid(-1, &st, WNOHANG | __WALL);
		if (r == 0)
			return LAUNCH_RUNNING;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD: nothing left to wait for */
			n_processes = 0;
			return LAUNCH_RUNNING;
		}
		f = u64map__get(&tracees, (uint64_t)r);
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			bool process = f && (*f & LT_PROCESS);

			u64map__del(&tracees, (uint64_t)r, NULL);
			if (!process)
				continue;
			n_processes--;
			ev->pid = r;
			ev->status = st;
			return LAUNCH_EXITED;
		}
		if (!WIFSTOPPED(st))
			continue;
		if (!f) {
			/* a new tracee's SIGSTOP seen before its parent's
			 * event: keep it stopped until that event */
			u64map__set(&tracees, (uint64_t)r, LT_STARTED);
			if (WSTOPSIG(st) == SIGSTOP)
				continue;
			f = u64map__get(&tracees, (uint64_t)r);
		}
		event = st >> 16;
		ev->pid = r;
		switch (event) {
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE:
			if (on_new_tracee(r, ev) == LAUNCH_FORKED)
				return LAUNCH_FORKED;
			continue;
		case PTRACE_EVENT_EXEC:
			/* reported by the thread-group leader, whatever
			 * thread called execve */
			if (f && !(*f & LT_PROCESS)) {
				*f |= LT_PROCESS;
				n_processes++;
			}
			return LAUNCH_EXECED;
		case PTRACE_EVENT_EXIT:
			if (f && (*f & LT_PROCESS))
				return LAUNCH_EXITING;
			ptrace(PTRACE_CONT, r, NULL, NULL);
			continue;
		}
		/* signal-delivery-stop: pass the signal on; our own traps
		 * (SIGTRAP, a stray SIGSTOP of a start) are swallowed */
		if (signal_fn)
			signal_fn(signal_ctx, r, WSTOPSIG(st));
		ptrace(PTRACE_CONT, r, NULL,
		       (void *)(long)(WSTOPSIG(st) == SIGTRAP ? 0 :
				      WSTOPSIG(st)));
	}
}

size_t launch__processes(void)
{
	return n_processes;
}

void launch__terminate(int grace_ms)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	struct launch_event ev;
	uint64_t tid, flags;
	int waited = 0, sig = SIGTERM;

	for (;;) {
		size_t it = 0;

		while (u64map__next(&tracees, &it, &tid, &flags))
			if (flags & LT_PROCESS)
				kill((pid_t)tid, sig);
		sig = 0;
		for (;;) {
			enum launch_state s = launch__next(&ev);

			if (s == LAUNCH_RUNNING)
				break;
			if (s != LAUNCH_EXITED)
				launch__resume(ev.pid);
		}
		if (!n_processes)
			break;
		if (waited >= grace_ms) {
			sig = SIGKILL;
			grace_ms = 1 << 30;
		}
		nanosleep(&ts, NULL);
		waited += 10;
	}
	u64map__free(&tracees);
	memset(&tracees, 0, sizeof(tracees));
}
