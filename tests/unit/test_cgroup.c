// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_cgroup.c - process/cgroup.c: the cgroup2 mount in mounts text, the
 * v2 line of /proc/PID/cgroup, and container ids and pod uids in the paths
 * kubelet (cgroupfs and systemd drivers), containerd, CRI-O, Docker and
 * podman create; hostile text (huge, no newline, NULs, near misses);
 * this machine's real files; and real processes moved into cgroups named
 * the way kubelet and the runtimes name them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "process/cgroup.h"

#define CID "4f9dbc1c2a3b4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789ab"
#define UID "6f1b3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2c"
#define UID_ "6f1b3c2a_8d4e_4f5a_9b6c_7d8e9f0a1b2c"

static void expect(const char *path, const char *cid, const char *uid)
{
	struct cgroup_ids ids;

	assert_int_equal(cgroup__parse_path(path, &ids), 0);
	if (strcmp(ids.container_id, cid) || strcmp(ids.pod_uid, uid))
		fail_msg("%s: container.id '%s' pod.uid '%s', expected '%s' '%s'",
			 path, ids.container_id, ids.pod_uid, cid, uid);
}

static void test_kubelet_cgroupfs(void **state)
{
	(void)state;
	expect("/kubepods/burstable/pod" UID "/" CID, CID, UID);
	expect("/kubepods/besteffort/pod" UID "/" CID, CID, UID);
	expect("/kubepods/pod" UID "/" CID, CID, UID);	/* guaranteed QoS */
	/* the pod's own cgroup (the pause container's parent) */
	expect("/kubepods/burstable/pod" UID, "", UID);
	/* kind: kubelet nested under its node container */
	expect("/kubelet/kubepods/burstable/pod" UID "/" CID, CID, UID);
	/* a cgroup namespace shows a path relative to the container */
	expect("/../../kubepods/pod" UID "/" CID, CID, UID);
}

static void test_kubelet_systemd(void **state)
{
	(void)state;
	expect("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
	       UID_ ".slice/cri-containerd-" CID ".scope", CID, UID);
	expect("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"
	       UID_ ".slice/crio-" CID ".scope", CID, UID);
	expect("/kubepods.slice/kubepods-pod" UID_ ".slice/docker-" CID ".scope",
	       CID, UID);
	/* CRI-O's monitor is in the pod but is no container */
	expect("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-conmon-" CID
	       ".scope", "", UID);
	expect("/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	       "kubelet-kubepods-besteffort-pod" UID_ ".slice/cri-containerd-" CID
	       ".scope", CID, UID);
	/* systemd inside the container: still that container */
	expect("/kubepods.slice/kubepods-pod" UID_ ".slice/cri-containerd-" CID
	       ".scope/init.scope", CID, UID);
}

static void test_outside_kubernetes(void **state)
{
	(void)state;
	expect("/system.slice/docker-" CID ".scope", CID, "");
	expect("/docker/" CID, CID, "");
	expect("/machine.slice/libpod-" CID ".scope", CID, "");
	expect("/default/" CID, CID, "");		/* containerd, nerdctl */
	expect("/system.slice/containerd.service", "", "");
	expect("/user.slice/user-1000.slice/session-2.scope", "", "");
	expect("/", "", "");
	expect("", "", "");
	/* a pod-looking name outside kubepods is not a pod */
	expect("/pod" UID "/" CID, CID, "");
	expect("/system.slice/foo-pod" UID_ ".slice", "", "");
}

static void test_near_misses(void **state)
{
	(void)state;
	/* 63 and 65 digits, upper case, non-hex */
	expect("/docker/" "4f9dbc1c2a3b4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789a",
	       "", "");
	expect("/docker/" CID "0", "", "");
	expect("/docker/" "4F9DBC1C2A3B4E5F60718293A4B5C6D7E8F90123456789ABCDEF0123456789AB",
	       "", "");
	expect("/docker/" "zf9dbc1c2a3b4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789ab",
	       "", "");
	/* dashes where the systemd driver writes underscores, and back */
	expect("/kubepods.slice/kubepods-pod" UID ".slice", "", "");
	expect("/kubepods/pod" UID_ "/" CID, CID, "");
	expect("/kubepods/pod6f1b3c2a-8d4e-4f5a-9b6c-7d8e9f0a1b2/" CID, CID, "");
	expect("/kubepods/pod/" CID, CID, "");
	expect("/kubepods.slice/-pod.slice", "", "");
	expect("/kubepods.slice/kubepods-pod.slice", "", "");

	struct cgroup_ids ids;
	assert_int_equal(cgroup__parse_path(NULL, &ids), -EINVAL);
	assert_int_equal(cgroup__parse_path("/", NULL), -EINVAL);
}

static void test_huge_path(void **state)
{
	struct cgroup_ids ids;
	size_t n = CGROUP_PATH_MAX + 100, i;
	char *p = malloc(n + 1);

	(void)state;
	assert_non_null(p);
	/* "/a/a/a...": the most components a path can have */
	for (i = 0; i < CGROUP_PATH_MAX; i++)
		p[i] = i % 2 ? 'a' : '/';
	p[CGROUP_PATH_MAX] = '\0';
	assert_int_equal(cgroup__parse_path(p, &ids), 0);
	assert_string_equal(ids.container_id, "");
	/* the last component is a container: still found */
	memcpy(p + CGROUP_PATH_MAX - 65, "/" CID, 65);
	assert_int_equal(cgroup__parse_path(p, &ids), 0);
	assert_string_equal(ids.container_id, CID);
	memset(p, '/', n);
	p[n] = '\0';
	assert_int_equal(cgroup__parse_path(p, &ids), -ENAMETOOLONG);
	free(p);
}

static void test_parse_proc(void **state)
{
	static const char v1v2[] =
		"12:pids:/user.slice\n"
		"1:name=systemd:/user.slice/session-2.scope\n"
		"0::/kubepods/pod" UID "/" CID "\n";
	char out[CGROUP_PATH_MAX + 1];
	char small[8];

	(void)state;
	assert_int_equal(cgroup__parse_proc(v1v2, strlen(v1v2), out, sizeof(out)), 0);
	assert_string_equal(out, "/kubepods/pod" UID "/" CID);
	/* no newline at the end */
	assert_int_equal(cgroup__parse_proc("0::/docker/x", 12, out, sizeof(out)), 0);
	assert_string_equal(out, "/docker/x");
	/* v1 only, empty, garbage */
	assert_int_equal(cgroup__parse_proc("1:cpu:/a\n", 9, out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroup__parse_proc("", 0, out, sizeof(out)), -ENOENT);
	assert_int_equal(cgroup__parse_proc("0::\n", 4, out, sizeof(out)), -EINVAL);
	assert_int_equal(cgroup__parse_proc("0::relative\n", 12, out, sizeof(out)), -EINVAL);
	/* 10:0::/x is hierarchy 10, not 0 */
	assert_int_equal(cgroup__parse_proc("10::/x\n", 7, out, sizeof(out)), -ENOENT);
	/* an embedded NUL: the line is refused, not cut short */
	assert_int_equal(cgroup__parse_proc("0::/docker/\0" CID "\n", 12 + 65, out,
					    sizeof(out)), -EINVAL);
	/* a NUL on another line does not matter; len bounds the scan */
	assert_int_equal(cgroup__parse_proc("1:x:\0\n0::/a\n", 12, out, sizeof(out)), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(cgroup__parse_proc("0::/abc\n", 5, out, sizeof(out)), 0);
	assert_string_equal(out, "/a");
	assert_int_equal(cgroup__parse_proc("0::/abcdefgh\n", 13, small, sizeof(small)),
			 -ENAMETOOLONG);
	assert_int_equal(cgroup__parse_proc(NULL, 0, out, sizeof(out)), -EINVAL);
}

static void test_parse_proc_huge(void **state)
{
	size_t n = CGROUP_PATH_MAX + 4 + 3, i;
	char *t = malloc(n), out[CGROUP_PATH_MAX + 1];

	(void)state;
	assert_non_null(t);
	memcpy(t, "0::", 3);
	for (i = 3; i < n; i++)
		t[i] = '/';
	/* longer than CGROUP_PATH_MAX even with room in out: refused */
	assert_int_equal(cgroup__parse_proc(t, n, out, sizeof(out)), -ENAMETOOLONG);
	/* exactly CGROUP_PATH_MAX: accepted */
	assert_int_equal(cgroup__parse_proc(t, 3 + CGROUP_PATH_MAX, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), CGROUP_PATH_MAX);
	free(t);
}

static void test_parse_mounts(void **state)
{
	static const char here[] =
		"sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\n"
		"tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n"
		"cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec 0 0\n"
		"cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n";
	static const char esc[] = "none /mnt/my\\040cg\\134x cgroup2 rw 0 0";
	char out[256], small[8];

	(void)state;
	assert_int_equal(cgroup__parse_mounts(here, strlen(here), out, sizeof(out)), 0);
	assert_string_equal(out, "/sys/fs/cgroup/unified");
	/* octal escapes, no final newline */
	assert_int_equal(cgroup__parse_mounts(esc, strlen(esc), out, sizeof(out)), 0);
	assert_string_equal(out, "/mnt/my cg\\x");
	/* \000 would make a NUL: refused */
	assert_int_equal(cgroup__parse_mounts("x /a\\000b cgroup2 rw 0 0\n", 25, out,
					      sizeof(out)), -EINVAL);
	/* a truncated escape stays literal */
	assert_int_equal(cgroup__parse_mounts("x /a\\04 cgroup2 rw 0 0\n", 23, out,
					      sizeof(out)), 0);
	assert_string_equal(out, "/a\\04");
	assert_int_equal(cgroup__parse_mounts("x /sys/fs/cgroup cgroup rw 0 0\n", 31,
					      out, sizeof(out)), -ENOENT);
	/* type "cgroup2x" or a NUL in the line is no match */
	assert_int_equal(cgroup__parse_mounts("x /a cgroup2x rw\n", 17, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(cgroup__parse_mounts("x /a\0 cgroup2 rw\n", 17, out, sizeof(out)),
			 -ENOENT);
	assert_int_equal(cgroup__parse_mounts("x /sys/fs/cgroup cgroup2 rw\n", 28, small,
					      sizeof(small)), -ENAMETOOLONG);
}

/* This machine: the mount is real, and our own cgroup file parses. */
static void test_real_files(void **state)
{
	char mnt[1024], path[CGROUP_PATH_MAX + 1], dir[CGROUP_PATH_MAX + 1024 + 32];
	struct cgroup_ids ids;

	(void)state;
	assert_int_equal(cgroup__find_mount(0, mnt, sizeof(mnt)), 0);
	assert_int_equal(cgroup__find_mount(getpid(), mnt, sizeof(mnt)), 0);
	assert_int_equal(access(mnt, F_OK), 0);
	assert_int_equal(cgroup__read_path(getpid(), path, sizeof(path)), 0);
	assert_true(path[0] == '/');
	/* the path names a directory under the mount (no cgroup namespace) */
	snprintf(dir, sizeof(dir), "%s%s/cgroup.procs", mnt, path);
	assert_int_equal(access(dir, F_OK), 0);
	assert_int_equal(cgroup__ids(getpid(), &ids), 0);
	assert_int_equal(cgroup__read_path(0, path, sizeof(path)), -EINVAL);
	assert_int_equal(cgroup__ids(0x3ffffff0, &ids) < 0, 1);
}

/* A real process placed in kubelet- and systemd-style cgroups under the
 * real cgroup2 mount (root: mkdir there makes cgroups, a pid written to
 * cgroup.procs moves the process). */
static void place_and_read(const char *mnt, const char *rel, const char *cid,
			   const char *uid)
{
	char dir[2048], procs[2100], pidbuf[32], *slash;
	struct cgroup_ids ids;
	int pfd[2], fd, st;
	pid_t child;
	char c;

	snprintf(dir, sizeof(dir), "%s/memtel-test-%d%s", mnt, (int)getpid(), rel);
	for (slash = dir + strlen(mnt) + 1; (slash = strchr(slash, '/')); slash++) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			fail_msg("mkdir %s: %s", dir, strerror(errno));
		*slash = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		fail_msg("mkdir %s: %s", dir, strerror(errno));
	assert_int_equal(pipe(pfd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(pfd[1]);
		(void)!read(pfd[0], &c, 1);
		_exit(0);
	}
	close(pfd[0]);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	fd = open(procs, O_WRONLY);
	assert_true(fd >= 0);
	snprintf(pidbuf, sizeof(pidbuf), "%d\n", (int)child);
	st = write(fd, pidbuf, strlen(pidbuf)) == (ssize_t)strlen(pidbuf);
	close(fd);
	if (st) {
		memset(&ids, 0x7f, sizeof(ids));
		st = cgroup__ids(child, &ids);
	}
	close(pfd[1]);
	waitpid(child, NULL, 0);
	/* remove the cgroups bottom-up */
	for (;;) {
		rmdir(dir);
		slash = strrchr(dir, '/');
		if (!slash || slash - dir <= (long)strlen(mnt))
			break;
		*slash = '\0';
	}
	assert_int_equal(st, 0);
	assert_string_equal(ids.container_id, cid);
	assert_string_equal(ids.pod_uid, uid);
}

static void test_real_cgroups(void **state)
{
	char mnt[1024];

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(cgroup__find_mount(0, mnt, sizeof(mnt)), 0);
	place_and_read(mnt, "/kubepods/burstable/pod" UID "/" CID, CID, UID);
	place_and_read(mnt, "/kubepods.slice/kubepods-besteffort.slice/"
		       "kubepods-besteffort-pod" UID_ ".slice/crio-" CID ".scope",
		       CID, UID);
	place_and_read(mnt, "/system.slice/docker-" CID ".scope", CID, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubelet_cgroupfs),
		cmocka_unit_test(test_kubelet_systemd),
		cmocka_unit_test(test_outside_kubernetes),
		cmocka_unit_test(test_near_misses),
		cmocka_unit_test(test_huge_path),
		cmocka_unit_test(test_parse_proc),
		cmocka_unit_test(test_parse_proc_huge),
		cmocka_unit_test(test_parse_mounts),
		cmocka_unit_test(test_real_files),
		cmocka_unit_test(test_real_cgroups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
