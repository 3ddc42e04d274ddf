// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_selector.c - process/selector.c: `--heap-target` parsing (every
 * kind, hostile text: unknown kinds, empty and overlong values, values a
 * kind cannot hold, control characters, more selectors than the bound),
 * matching on given facts (exact exe and comm, container id prefixes, pod
 * uids with the systemd driver's underscores, cgroup prefixes only at a
 * component boundary), and this process's own facts read from /proc.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "process/selector.h"

#define CID "4f9dbc1c2a3b4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789ab"
#define UID "6f1b3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"

static void parse_ok(const char *text, enum selector_kind kind,
		     const char *value)
{
	struct selector s;
	char err[256] = "";

	if (selector__parse(text, &s, err, sizeof(err)))
		fail_msg("'%s' refused: %s", text, err);
	assert_int_equal(s.kind, kind);
	assert_string_equal(s.value, value);
	assert_int_equal(s.len, strlen(value));
}

/* Refused with one line naming the problem. */
static void parse_bad(const char *text, const char *why)
{
	struct selector s;
	char err[256] = "";

	assert_int_equal(selector__parse(text, &s, err, sizeof(err)), -EINVAL);
	if (!strstr(err, why) || strchr(err, '\n'))
		fail_msg("'%.40s': error '%s' does not say '%s'", text, err,
			 why);
}

static void test_parse_kinds(void **state)
{
	(void)state;
	parse_ok("exe=/usr/sbin/nginx", SEL_EXE, "/usr/sbin/nginx");
	parse_ok("comm=redis-server", SEL_COMM, "redis-server");
	parse_ok("container=4f9dbc", SEL_CONTAINER, "4f9dbc");
	parse_ok("container=" CID, SEL_CONTAINER, CID);
	parse_ok("pod=" UID, SEL_POD, UID);
	/* the systemd driver's spelling names the same pod */
	parse_ok("pod=6f1b3c2a_8d4e_4f5a_9b6c_7d8e9f0a1b2c", SEL_POD, UID);
	parse_ok("cgroup=/kubepods/burstable", SEL_CGROUP, "/kubepods/burstable");
	parse_ok("cgroup=/kubepods/", SEL_CGROUP, "/kubepods");
	parse_ok("cgroup=/", SEL_CGROUP, "/");
	/* a value may hold '=' (only the first one splits) */
	parse_ok("comm=a=b", SEL_COMM, "a=b");
}

static void test_parse_hostile(void **state)
{
	char big[SELECTOR_VALUE_MAX + 64];

	(void)state;
	parse_bad("", "want KIND=VALUE");
	parse_bad("nginx", "want KIND=VALUE");
	parse_bad("=nginx", "unknown heap target kind ''");
	parse_bad("name=nginx", "unknown heap target kind 'name'");
	parse_bad("COMM=nginx", "unknown heap target kind 'COMM'");
	parse_bad("commx=nginx", "unknown heap target kind");
	parse_bad("comm=", "empty heap target value for comm=");
	parse_bad("exe=", "empty");
	parse_bad("comm=0123456789abcdef", "too long (at most 15 bytes)");
	parse_bad("exe=usr/sbin/nginx", "absolute path");
	parse_bad("cgroup=kubepods", "absolute path");
	parse_bad("container=4F9DBC", "lowercase hex");
	parse_bad("container=xyz", "lowercase hex");
	parse_bad("container=" CID "0", "too long");
	parse_bad("pod=not-a-uid", "pod uid");
	parse_bad("comm=a\tb", "control character");
	parse_bad("exe=/bin/\nsh", "control character");
	/* an overlong key is cut in the message, never overflows */
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[sizeof(big) - 2] = '=';
	parse_bad(big, "unknown heap target kind 'kkkkkkkkkkkkkkk'");
	/* overlong values of every kind */
	memcpy(big, "cgroup=/", 8);
	memset(big + 8, 'a', sizeof(big) - 9);
	big[sizeof(big) - 1] = '\0';
	parse_bad(big, "too long");
	memcpy(big, "exe=/", 5);
	parse_bad(big, "too long");
	assert_int_equal(selector__parse(NULL, &(struct selector){ 0 }, NULL, 0),
			 -EINVAL);
}

static void test_set_bound(void **state)
{
	struct selector_set *s = calloc(1, sizeof(*s));
	char err[128];
	int i;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < SELECTOR_MAX; i++)
		assert_int_equal(selector_set__add(s, "comm=x", err,
						   sizeof(err)), 0);
	assert_int_equal(selector_set__add(s, "comm=x", err, sizeof(err)),
			 -E2BIG);
	assert_non_null(strstr(err, "too many heap targets"));
	assert_int_equal(s->n, SELECTOR_MAX);
	assert_int_equal(selector_set__needs(s), SEL_NEED_COMM);
	s->n = 0;
	assert_int_equal(selector_set__add(s, "bogus", err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(s->n, 0);
	free(s);
}

static bool matches(const char *text, const struct selector_facts *f)
{
	struct selector s;

	assert_int_equal(selector__parse(text, &s, NULL, 0), 0);
	return selector__match(&s, f);
}

static void test_match(void **state)
{
	struct selector_facts *f = calloc(1, sizeof(*f));
	struct selector_set *set = calloc(1, sizeof(*set));
	char buf[64];

	(void)state;
	assert_non_null(f);
	assert_non_null(set);
	strcpy(f->exe, "/usr/sbin/nginx");
	strcpy(f->comm, "nginx");
	strcpy(f->cgroup, "/kubepods/burstable/pod" UID "/" CID);
	cgroup__parse_path(f->cgroup, &f->ids);
	assert_true(matches("exe=/usr/sbin/nginx", f));
	assert_false(matches("exe=/usr/sbin/ngin", f));
	assert_false(matches("exe=/usr/sbin/nginx2", f));
	assert_true(matches("comm=nginx", f));
	assert_false(matches("comm=ngin", f));
	assert_true(matches("container=4f9d", f));
	assert_true(matches("container=" CID, f));
	assert_false(matches("container=4f9e", f));
	assert_true(matches("pod=" UID, f));
	assert_false(matches("pod=6f1b3c2a", f));
	assert_true(matches("cgroup=/kubepods", f));
	assert_true(matches("cgroup=/kubepods/burstable/", f));
	assert_true(matches("cgroup=/", f));
	assert_false(matches("cgroup=/kube", f));
	assert_false(matches("cgroup=/kubepods/burst", f));
	/* facts not read never match */
	memset(f, 0, sizeof(*f));
	assert_false(matches("comm=nginx", f));
	assert_false(matches("cgroup=/", f));
	assert_false(matches("container=4f", f));
	/* a set answers with the first selector that matches */
	strcpy(f->comm, "redis-server");
	assert_int_equal(selector_set__add(set, "comm=nginx", NULL, 0), 0);
	assert_int_equal(selector_set__add(set, "comm=redis-server", NULL, 0), 0);
	assert_int_equal(selector_set__add(set, "cgroup=/a", NULL, 0), 0);
	assert_int_equal(selector_set__match(set, f), 1);
	assert_int_equal(selector_set__needs(set),
			 SEL_NEED_COMM | SEL_NEED_CGROUP);
	strcpy(f->comm, "other");
	assert_int_equal(selector_set__match(set, f), -1);
	assert_string_equal(selector__format(&set->sel[2], buf, sizeof(buf)),
			    "cgroup=/a");
	free(set);
	free(f);
}

/* This process's own facts, and a pid that is gone. */
static void test_read_self(void **state)
{
	struct selector_facts *f = calloc(1, sizeof(*f));
	char exe[PATH_MAX];
	ssize_t n;
	pid_t child;

	(void)state;
	assert_non_null(f);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_int_equal(selector__read_facts(getpid(), SEL_NEED_EXE |
					      SEL_NEED_COMM | SEL_NEED_CGROUP,
					      f), 0);
	assert_string_equal(f->exe, exe);
	assert_string_equal(f->comm, "test_selector");
	assert_true(f->cgroup[0] == '/');
	/* only what was asked for is read */
	assert_int_equal(selector__read_facts(getpid(), SEL_NEED_COMM, f), 0);
	assert_string_equal(f->exe, "");
	assert_string_equal(f->cgroup, "");
	child = fork();
	assert_true(child >= 0);
	if (!child)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(selector__read_facts(child, SEL_NEED_COMM, f), -ESRCH);
	assert_int_equal(selector__read_facts(child, SEL_NEED_EXE, f), -ESRCH);
	assert_int_equal(selector__read_facts(child, SEL_NEED_CGROUP, f), -ESRCH);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_set_bound),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_read_self),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
