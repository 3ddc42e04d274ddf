// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_agent.c - the node agent's pieces that need no BPF: its options
 * (flags over a --config file; unknown keys are usage errors) and the
 * /proc scan (process/scan.c): stat parsing with hostile names, this
 * process found among the pids with its memory and start time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli/agent.h"
#include "process/scan.h"
#include "util/fileio.h"

static char cfg_path[64];

static void write_cfg(const char *text)
{
	FILE *f;

	snprintf(cfg_path, sizeof(cfg_path), "/tmp/test_agent.%d.conf",
		 (int)getpid());
	f = fopen(cfg_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int parse(struct agent_options *ao, int argc, char **argv)
{
	FILE *null = fopen("/dev/null", "w");
	FILE *saved = stderr;
	int rc;

	/* usage errors go to stderr: keep the test log readable */
	stderr = null;
	agent_options__init(ao);
	rc = agent_options__parse(ao, argc, argv);
	stderr = saved;
	fclose(null);
	return rc;
}

static void test_defaults(void **state)
{
	char *argv[] = { "agent", NULL };
	struct agent_options ao;

	(void)state;
	assert_int_equal(parse(&ao, 1, argv), 0);
	assert_true(ao.base.all);
	assert_true(ao.base.no_heap);
	assert_int_equal(ao.base.freq, 99);
	assert_null(ao.listen);
	assert_int_equal(ao.max_processes, AGENT_DEFAULT_TOP);
	agent_options__free(&ao);
}

static void test_config_and_flags(void **state)
{
	struct agent_options ao;
	char *argv[] = { "agent", "--config", cfg_path, "-F", "49",
			 "--otlp-header", "b=2", NULL };

	(void)state;
	write_cfg("# node agent\n"
		  "  freq = 19\n"
		  "listen=0.0.0.0:9464\n"
		  "\n"
		  "no-kernel=true\n"
		  "otlp-header=a=1\n"
		  "export-interval=2.5\r\n");
	assert_int_equal(parse(&ao, 7, argv), 0);
	assert_int_equal(ao.base.freq, 49);	/* the flag wins */
	assert_string_equal(ao.listen, "0.0.0.0:9464");
	assert_true(ao.base.no_kernel);
	assert_true(ao.base.export_interval == 2.5);
	assert_int_equal(ao.base.n_otlp_headers, 2);
	assert_string_equal(ao.base.otlp_headers[0], "a=1");
	assert_string_equal(ao.base.otlp_headers[1], "b=2");
	agent_options__free(&ao);
	unlink(cfg_path);
}

static void test_config_errors(void **state)
{
	static const char *const bad[] = {
		"bogus=1\n", "freq\n", "freq=0\n", "listen=nowhere\n",
		"no-kernel=maybe\n", "config=/etc/passwd\n", "pid=1\n",
		"max-processes=-1\n",
	};
	char *argv[] = { "agent", "--config", cfg_path, NULL };
	char *missing[] = { "agent", "--config", "/nonexistent/x.conf", NULL };
	struct agent_options ao;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_cfg(bad[i]);
		assert_int_equal(parse(&ao, 3, argv), -EINVAL);
		agent_options__free(&ao);
	}
	unlink(cfg_path);
	assert_int_equal(parse(&ao, 3, missing), -EINVAL);
	agent_options__free(&ao);
}

/* --heap-target from the file and the flags add up; bad ones refused. */
static void test_heap_targets(void **state)
{
	struct agent_options ao;
	char *argv[] = { "agent", "--config", cfg_path, "--heap-target",
			 "exe=/usr/sbin/nginx", "--max-heap-targets", "4",
			 "--sample-bytes", "4096", NULL };
	char *bad1[] = { "agent", "--heap-target", "comm=", NULL };
	char *bad2[] = { "agent", "--heap-target", "bogus=1", NULL };
	char *bad3[] = { "agent", "--max-heap-targets", "1025", NULL };
	char *bad4[] = { "agent", "--sample-bytes", "0", NULL };

	(void)state;
	assert_int_equal(parse(&ao, 1, (char *[]){ "agent", NULL }), 0);
	assert_null(ao.heap_targets);
	assert_int_equal(ao.max_heap_targets, AGENT_DEFAULT_HEAP_TARGETS);
	agent_options__free(&ao);
	write_cfg("heap-target = comm=redis-server\n"
		  "heap-target=cgroup=/kubepods/\n");
	assert_int_equal(parse(&ao, 9, argv), 0);
	assert_non_null(ao.heap_targets);
	assert_int_equal(ao.heap_targets->n, 3);
	assert_int_equal(ao.heap_targets->sel[0].kind, SEL_COMM);
	assert_string_equal(ao.heap_targets->sel[0].value, "redis-server");
	assert_string_equal(ao.heap_targets->sel[1].value, "/kubepods");
	assert_int_equal(ao.heap_targets->sel[2].kind, SEL_EXE);
	assert_int_equal(ao.max_heap_targets, 4);
	assert_int_equal(ao.base.sample_bytes, 4096);
	agent_options__free(&ao);
	assert_null(ao.heap_targets);
	write_cfg("heap-target = container=XYZ\n");
	assert_int_equal(parse(&ao, 3, argv), -EINVAL);
	agent_options__free(&ao);
	unlink(cfg_path);
	assert_int_equal(parse(&ao, 3, bad1), -EINVAL);
	agent_options__free(&ao);
	assert_int_equal(parse(&ao, 3, bad2), -EINVAL);
	agent_options__free(&ao);
	assert_int_equal(parse(&ao, 3, bad3), -EINVAL);
	agent_options__free(&ao);
	assert_int_equal(parse(&ao, 3, bad4), -EINVAL);
	agent_options__free(&ao);
}

/* --max-overhead: the session's budget for the heap targets, 5 % by
 * default, 0 = unlimited, from the config file and overridden by a flag */
static void test_max_overhead(void **state)
{
	struct agent_options ao;
	char *argv[] = { "agent", "--config", cfg_path, "--max-overhead", "0",
			 NULL };
	char *bad1[] = { "agent", "--max-overhead", "101", NULL };
	char *bad2[] = { "agent", "--max-overhead", "-1", NULL };
	char *bad3[] = { "agent", "--max-overhead", "5%", NULL };

	(void)state;
	assert_int_equal(parse(&ao, 1, (char *[]){ "agent", NULL }), 0);
	assert_true(options__max_overhead(&ao.base) == OPTIONS_DEFAULT_MAX_OVERHEAD);
	agent_options__free(&ao);
	write_cfg("max-overhead = 2.5\n");
	assert_int_equal(parse(&ao, 3, argv), 0);
	assert_true(options__max_overhead(&ao.base) == 2.5);
	agent_options__free(&ao);
	assert_int_equal(parse(&ao, 5, argv), 0);
	assert_true(options__max_overhead(&ao.base) == 0);
	agent_options__free(&ao);
	write_cfg("max-overhead = lots\n");
	assert_int_equal(parse(&ao, 3, argv), -EINVAL);
	agent_options__free(&ao);
	unlink(cfg_path);
	assert_int_equal(parse(&ao, 3, bad1), -EINVAL);
	agent_options__free(&ao);
	assert_int_equal(parse(&ao, 3, bad2), -EINVAL);
	agent_options__free(&ao);
	assert_int_equal(parse(&ao, 3, bad3), -EINVAL);
	agent_options__free(&ao);
}

static void test_flag_errors(void **state)
{
	char *a1[] = { "agent", "--pid", "1", NULL };
	char *a2[] = { "agent", "--listen", NULL };
	char *a3[] = { "agent", "extra", NULL };
	char *a4[] = { "agent", "--export-interval", "0", NULL };
	char *h[] = { "agent", "--help", NULL };
	struct agent_options ao;
	FILE *saved = stdout, *null = fopen("/dev/null", "w");

	(void)state;
	assert_int_equal(parse(&ao, 3, a1), -EINVAL);
	assert_int_equal(parse(&ao, 2, a2), -EINVAL);
	assert_int_equal(parse(&ao, 2, a3), -EINVAL);
	assert_int_equal(parse(&ao, 3, a4), -EINVAL);
	stdout = null;
	assert_int_equal(parse(&ao, 2, h), 1);
	stdout = saved;
	fclose(null);
}

static void test_parse_stat(void **state)
{
	/* a comm may hold ") " and spaces: the last ')' ends it */
	const char *text = "4242 (a) S 1 (x) R 1 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 "
			   "20 0 1 0 987654 1000 10\n";
	uint64_t start = 0;
	char comm[16];

	(void)state;
	assert_int_equal(proc_scan__parse_stat(text, &start, comm,
					       sizeof(comm)), 0);
	assert_string_equal(comm, "a) S 1 (x");
	assert_int_equal(start, 987654);
	assert_int_equal(proc_scan__parse_stat("4242 no parens", &start,
					       NULL, 0), -EINVAL);
	assert_int_equal(proc_scan__parse_stat("1 (x) S 1 2", &start, NULL,
					       0), -EINVAL);
}

static void test_parse_stat_mem(void **state)
{
	/* fields 9 (flags), 23 (vsize, bytes) and 24 (rss, pages) */
	const char *user = "7 (a b) S 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 "
			   "0 555 10485760 300 18446744073709551615\n";
	const char *kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 "
			      "20 0 1 0 1 0 0 18446744073709551615\n";
	const char *zombie = "9 (z) Z 1 9 9 0 -1 4227084 0 0 0 0 0 0 0 0 20 0 1 "
			     "0 77 0 0 18446744073709551615\n";
	struct proc_mem m = { 0 };

	(void)state;
	assert_int_equal(proc_scan__parse_stat_mem(user, 4096, &m), 0);
	assert_int_equal(m.virtual_bytes, 10485760);
	assert_int_equal(m.rss_bytes, 300 * 4096);
	assert_int_equal(proc_scan__parse_stat_mem(kthread, 4096, &m),
			 -ENODATA);
	assert_int_equal(proc_scan__parse_stat_mem(zombie, 4096, &m),
			 -ENODATA);
	assert_int_equal(proc_scan__parse_stat_mem("7 (a) S 1 7", 4096, &m),
			 -EINVAL);
	assert_int_equal(proc_scan__parse_stat_mem(user, 0, &m), -EINVAL);
	/* rss pages that overflow in bytes */
	assert_int_equal(proc_scan__parse_stat_mem(
		"7 (a) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 4096 "
		"18446744073709551615 0\n", 4096, &m), -EINVAL);
}

static void test_scan_self(void **state)
{
	struct proc_info me;
	struct proc_mem st = { 0 };
	char *text = NULL;
	pid_t *pids;
	size_t n, i;
	bool found = false;

	(void)state;
	assert_int_equal(proc_scan__pids(&pids, &n, SCAN_MAX_PIDS), 0);
	for (i = 0; i < n; i++)
		found = found || pids[i] == getpid();
	free(pids);
	assert_true(found);
	assert_int_equal(proc_scan__read(getpid(), &me), 0);
	assert_true(me.mem.rss_bytes > 0);
	assert_true(me.mem.virtual_bytes >= me.mem.rss_bytes);
	assert_true(me.start_ticks > 0);
	assert_string_equal(me.comm, "test_agent");
	/* the figures status prints (VmRSS may move by the pages the
	 * reads themselves touch) */
	assert_int_equal(fileio__read_text("/proc/self/status", 0, 1 << 16,
					   &text, NULL), 0);
	assert_int_equal(procstat__parse_status(text, &st), 0);
	free(text);
	assert_int_equal(me.mem.virtual_bytes, st.virtual_bytes);
	assert_true(me.mem.rss_bytes + (1 << 20) > st.rss_bytes &&
		    st.rss_bytes + (1 << 20) > me.mem.rss_bytes);
	/* a kernel thread (kthreadd is pid 2 where the pid namespace is the
	 * host's) has no memory */
	if (!fileio__read_text("/proc/2/comm", 0, 64, &text, NULL)) {
		if (!strcmp(text, "kthreadd\n"))
			assert_int_equal(proc_scan__read(2, &me), -ENODATA);
		free(text);
	}
	assert_int_equal(proc_scan__read(0x7ffffff0, &me), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_config_and_flags),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_heap_targets),
		cmocka_unit_test(test_max_overhead),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_parse_stat_mem),
		cmocka_unit_test(test_scan_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
