// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cpu_syscalls.c - CPU workload that spends most of its time in the kernel:
 * syscall_loop() reads /dev/zero into a 64 KiB buffer (the kernel clears
 * the user pages) and calls getppid(), so CPU samples land in kernel code
 * below a known user frame. Built -O2 without frame pointers, like the
 * other workloads.
 *
 *   cpu_syscalls [--seconds S] [--wait-signal]
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE (64 * 1024)

static char buf[BUF_SIZE];
static volatile unsigned long long sink;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Syscalls until `seconds` have passed; returns the bytes read. */
__attribute__((noinline)) unsigned long long syscall_loop(int fd, double seconds)
{
	unsigned long long end = now_ns() + (unsigned long long)(seconds * 1e9);
	unsigned long long total = 0;
	int i;

	do {
		for (i = 0; i < 16; i++) {
			ssize_t n = read(fd, buf, sizeof(buf));

			if (n < 0) {
				perror("read /dev/zero");
				exit(1);
			}
			total += (unsigned long long)n + (unsigned long long)getppid();
		}
	} while (now_ns() < end);
	asm volatile("" ::: "memory");
	return total;
}

int main(int argc, char **argv)
{
	double seconds = 3;
	int wait_sig = 0, fd, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--wait-signal")) {
			wait_sig = 1;
		} else {
			fprintf(stderr, "usage: cpu_syscalls [--seconds S] [--wait-signal]\n");
			return 2;
		}
	}
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		perror("open /dev/zero");
		return 1;
	}
	if (wait_sig) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		printf("ready %d\n", getpid());
		fflush(stdout);
		sigwait(&set, &sig);
	}
	sink = syscall_loop(fd, seconds);
	close(fd);
	printf("done %llu\n", sink & 1);
	return 0;
}
