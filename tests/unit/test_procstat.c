// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_procstat.c - what the session reads from /proc besides maps:
 * status and smaps memory figures, liveness from stat, our capabilities
 * (text as a process or the kernel could make it, and the real files of
 * this test), plus the UUIDs of util/random.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <cmocka.h>

#include "process/procstat.h"
#include "util/random.h"

/* --- parsing ------------------------------------------------------------ */

static const char status_sample[] =
	"Name:\theapsites\n"
	"Umask:\t0022\n"
	"State:\tS (sleeping)\n"
	"Tgid:\t4242\n"
	"VmPeak:\t  300000 kB\n"
	"VmSize:\t  262144 kB\n"
	"VmLck:\t       0 kB\n"
	"VmHWM:\t   10240 kB\n"
	"VmRSS:\t    8192 kB\n"
	"RssAnon:\t    4096 kB\n"
	"Threads:\t1\n";

static void test_parse_status(void **state)
{
	struct proc_mem p = { .allocator_bytes = 77 };

	(void)state;
	assert_int_equal(procstat__parse_status(status_sample, &p), 0);
	assert_true(p.rss_bytes == 8192ULL * 1024);
	assert_true(p.virtual_bytes == 262144ULL * 1024);
	assert_true(p.allocator_bytes == 77);	/* untouched */

	/* a kernel thread: no Vm* lines */
	assert_int_equal(procstat__parse_status("Name:\tkthreadd\nTgid:\t2\n",
						  &p), -ENODATA);
	assert_int_equal(procstat__parse_status("VmRSS:\t 12 kB\n", &p),
			 -ENODATA);
	assert_int_equal(procstat__parse_status("VmSize:\tx kB\nVmRSS:\t1 kB\n",
						  &p), -EINVAL);
	assert_int_equal(procstat__parse_status(NULL, &p), -EINVAL);
}

static const char smaps_sample[] =
	"55d0c8a00000-55d0c8a02000 r--p 00000000 08:01 1048602                    /usr/bin/heapsites\n"
	"Size:                  8 kB\n"
	"Rss:                   8 kB\n"
	"Pss:                   8 kB\n"
	"VmFlags: rd mr mw me dw sd\n"
	"55d0ca1e5000-55d0ca206000 rw-p 00000000 00:00 0                          [heap]\n"
	"Size:                132 kB\n"
	"KernelPageSize:        4 kB\n"
	"Rss:                 100 kB\n"
	"Anonymous:           100 kB\n"
	"VmFlags: rd wr mr mw me ac sd\n"
	"7f1c20000000-7f1c20021000 rw-p 00000000 00:00 0 \n"
	"Size:                132 kB\n"
	"Rss:                  40 kB\n"
	"VmFlags: rd wr mr mw me nr sd\n"
	"7f1c20021000-7f1c24000000 ---p 00000000 00:00 0 \n"
	"Size:              65404 kB\n"
	"Rss:                   0 kB\n"
	"7f1c28000000-7f1c28400000 rw-p 00000000 00:00 0                          [anon: glibc: malloc arena]\n"
	"Size:               4096 kB\n"
	"Rss:                2048 kB\n"
	"7f1c29000000-7f1c29100000 rw-s 00000000 00:01 4242                       /dev/zero (deleted)\n"
	"Size:               1024 kB\n"
	"Rss:                 512 kB\n"
	"7f1c2b228000-7f1c2b39d000 r-xp 00028000 08:01 1053271                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"Size:               1492 kB\n"
	"Rss:                1000 kB\n"
	"7f1c2b39d000-7f1c2b3a1000 rw-p 001a0000 08:01 1053271                    /usr/lib/x86_64-linux-gnu/libc.so.6\n"
	"Rss:                  16 kB\n"
	"7ffc8e5d0000-7ffc8e5f1000 rw-p 00000000 00:00 0                          [stack]\n"
	"Rss:                  24 kB\n"
	"7ffc8e5f8000-7ffc8e5fa000 r-xp 00000000 00:00 0                          [vdso]\n"
	"Rss:                   4 kB\n";

static void test_parse_smaps(void **state)
{
	uint64_t v = 1;

	(void)state;
	assert_int_equal(procstat__parse_smaps(smaps_sample, &v), 0);
	/* [heap] 100 + anonymous 40 + 0 + decorated arena 2048 */
	assert_true(v == (100ULL + 40 + 2048) * 1024);

	assert_int_equal(procstat__parse_smaps("", &v), 0);
	assert_true(v == 0);
	assert_int_equal(procstat__parse_smaps("not a mapping\n", &v),
			 -EINVAL);
	assert_int_equal(procstat__parse_smaps(
		"7f1c20000000-7f1c20021000 rw-p 00000000 00:00 0\nRss: lots kB\n",
		&v), -EINVAL);
	assert_int_equal(procstat__parse_smaps(NULL, &v), -EINVAL);
}

static void test_read_proc(void **state)
{
	struct proc_mem p = {};
	void *volatile blk = malloc(8 << 20);

	(void)state;
	assert_non_null(blk);
	memset(blk, 1, 8 << 20);
	assert_int_equal(procstat__read_mem(getpid(), &p), 0);
	assert_true(p.rss_bytes > 0);
	assert_true(p.virtual_bytes >= p.rss_bytes);
	/* the 8 MiB block is an mmap'ed chunk, counted and touched */
	assert_true(p.allocator_bytes >= 8ULL << 20);
	free(blk);

	/* pid_max is at most 2^22, so this pid cannot exist */
	assert_int_equal(procstat__read_mem(0x7ffffff0, &p), -ESRCH);
	assert_int_equal(procstat__read_mem(getpid(), NULL), -EINVAL);
}

static void test_uuid(void **state)
{
	char a[37], b[37];
	size_t i;

	(void)state;
	assert_int_equal(random__uuid4(a), 0);
	assert_int_equal(random__uuid4(b), 0);
	assert_int_equal(strlen(a), 36);
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23)
			assert_int_equal(a[i], '-');
		else
			assert_non_null(strchr("0123456789abcdef", a[i]));
	}
	assert_int_equal(a[14], '4');
	assert_non_null(strchr("89ab", a[19]));
	assert_string_not_equal(a, b);
}

static void test_capeff(void **state)
{
	uint64_t eff = 7;

	(void)state;
	assert_int_equal(procstat__parse_capeff(
		"Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t0\n",
		&eff), 0);
	assert_true(eff == 0x1ffffffffffULL);
	assert_int_equal(procstat__parse_capeff("CapEff:\t0000000000200000", &eff), 0);
	assert_true(eff == 1ULL << 21);
	/* a line that merely contains the key, garbage, or nothing */
	assert_int_equal(procstat__parse_capeff("XCapEff:\t1\n", &eff), -EINVAL);
	assert_int_equal(procstat__parse_capeff("CapEff:\tzz\n", &eff), -EINVAL);
	assert_int_equal(procstat__parse_capeff("CapEff:\t12 34\n", &eff), -EINVAL);
	assert_int_equal(procstat__parse_capeff("", &eff), -EINVAL);
	assert_int_equal(procstat__parse_capeff(NULL, &eff), -EINVAL);
	assert_int_equal(procstat__self_caps(&eff), 0);
}

static void test_pid_state(void **state)
{
	pid_t child;

	(void)state;
	assert_int_equal(procstat__pid_state(getpid()), 0);
	assert_int_equal(procstat__pid_state(0x7ffffff0), -ESRCH);
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	/* exited, not reaped: a zombie */
	for (int i = 0; i < 200 && procstat__pid_state(child) == 0; i++)
		usleep(10000);
	assert_int_equal(procstat__pid_state(child), -ECHILD);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(procstat__pid_state(child), -ESRCH);
}

/* /proc/PID/syscall: the number a task sleeps in, or nothing. A forked
 * child blocked in wait4() for its own child reads as wait4; one spinning
 * in user code is in no system call. */
static void test_syscall(void **state)
{
	pid_t child, grandchild;
	long nr = -1;
	int i, err = -1;
	int pfd[2];

	(void)state;
	assert_int_equal(procstat__parse_syscall("61 0x1 0x2 0x3 0x0 0x0 0x0 0x7ffd 0x7f\n", &nr), 0);
	assert_int_equal(nr, 61);
	assert_int_equal(procstat__parse_syscall("running\n", &nr), -EAGAIN);
	assert_int_equal(procstat__parse_syscall("-1 0x7ffd 0x7f\n", &nr), -EAGAIN);
	assert_int_equal(procstat__parse_syscall("", &nr), -EINVAL);
	assert_int_equal(procstat__parse_syscall("61x 0x1", &nr), -EINVAL);
	assert_int_equal(procstat__parse_syscall("99999999999999999999999 0x1", &nr), -EINVAL);
	assert_int_equal(procstat__parse_syscall(NULL, &nr), -EINVAL);
	assert_int_equal(procstat__blocked_syscall(0x7ffffff0, &nr), -ESRCH);
	/* a child spinning in user code: on a CPU or preempted, in no
	 * system call */
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		for (;;)
			asm volatile("" ::: "memory");
	for (i = 0; i < 20; i++) {
		err = procstat__blocked_syscall(child, &nr);
		if (err != -EAGAIN)
			break;
		usleep(1000);
	}
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(err, -EAGAIN);

	assert_int_equal(pipe(pfd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char c;

		grandchild = fork();
		if (grandchild == 0) {
			/* until the test closes the pipe */
			close(pfd[1]);
			if (read(pfd[0], &c, 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(pfd[0]);
		close(pfd[1]);
		waitpid(grandchild, NULL, 0);
		_exit(0);
	}
	close(pfd[0]);
	for (i = 0; i < 300; i++) {
		err = procstat__blocked_syscall(child, &nr);
		if (!err && nr == SYS_wait4)
			break;
		usleep(10000);
	}
	assert_int_equal(err, 0);
	assert_int_equal(nr, SYS_wait4);
	close(pfd[1]);
	assert_int_equal(waitpid(child, NULL, 0), child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test(test_parse_smaps),
		cmocka_unit_test(test_read_proc),
		cmocka_unit_test(test_capeff),
		cmocka_unit_test(test_pid_state),
		cmocka_unit_test(test_syscall),
		cmocka_unit_test(test_uuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
