// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * uprobe_multi_compat.c - uprobe session links without libbpf support.
 *
 * libbpf 1.1 knows neither the BPF_TRACE_UPROBE_SESSION attach type
 * (kernel 6.12) nor uprobe_multi links (kernel 6.6), so the program's
 * expected attach type is set by number and the link is created with the
 * bpf(2) syscall directly; the attr layout below is the kernel's (uapi
 * linux/bpf.h, union bpf_attr, link_create.uprobe_multi). Everything that
 * depends on that lives here, so a newer libbpf replaces this file alone.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>

#include "attach/uprobe_multi_compat.h"

/* uapi values from kernels newer than our headers */
#define MT_BPF_TRACE_UPROBE_MULTI 48
#define MT_BPF_TRACE_UPROBE_SESSION 57
#define MT_BPF_LINK_CREATE 28

struct mt_link_create_uprobe_multi {
	uint32_t prog_fd;
	uint32_t target_fd;
	uint32_t attach_type;
	uint32_t flags;
	uint64_t path;
	uint64_t offsets;
	uint64_t ref_ctr_offsets;
	uint64_t cookies;
	uint32_t cnt;
	uint32_t multi_flags;
	uint32_t pid;
	uint32_t pad;
	uint8_t tail[64];	/* rest of union bpf_attr: zero */
};

void uprobe_multi_compat__set_session(struct bpf_program *prog)
{
	bpf_program__set_expected_attach_type(
		prog, (enum bpf_attach_type)MT_BPF_TRACE_UPROBE_SESSION);
}

void uprobe_multi_compat__set_multi(struct bpf_program *prog)
{
	bpf_program__set_expected_attach_type(
		prog, (enum bpf_attach_type)MT_BPF_TRACE_UPROBE_MULTI);
}

static int link_create(struct bpf_program *prog, uint32_t type, pid_t pid,
		       const char *path, const uint64_t *offs,
		       const uint64_t *cookies, size_t cnt)
{
	struct mt_link_create_uprobe_multi attr;
	int fd;

	memset(&attr, 0, sizeof(attr));
	attr.prog_fd = (uint32_t)bpf_program__fd(prog);
	attr.attach_type = type;
	attr.path = (uint64_t)(uintptr_t)path;
	attr.offsets = (uint64_t)(uintptr_t)offs;
	attr.cookies = (uint64_t)(uintptr_t)cookies;
	attr.cnt = (uint32_t)cnt;
	attr.pid = (uint32_t)pid;
	fd = (int)syscall(__NR_bpf, MT_BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

int uprobe_multi_compat__probe(struct bpf_program *prog)
{
	uint64_t off = 0;
	int fd;

	/* The kernel checks the attach type and the arguments before it
	 * looks at the file, and refuses a path that is not a regular file
	 * with EBADF: that answer means the link type itself is known. A
	 * kernel without it fails earlier (EINVAL, or EOPNOTSUPP). */
	fd = link_create(prog, MT_BPF_TRACE_UPROBE_SESSION, 0, "/", &off,
			 NULL, 1);
	if (fd >= 0) {
		close(fd);	/* cannot happen; treat as supported */
		return 0;
	}
	if (fd == -EBADF)
		return 0;
	return fd == -EINVAL ? -EOPNOTSUPP : fd;
}

int uprobe_multi_compat__attach_session(struct bpf_program *prog, pid_t pid,
					const char *path,
					const uint64_t *offs,
					const uint64_t *cookies, size_t cnt)
{
	if (!prog || !path || !offs || !cnt)
		return -EINVAL;
	return link_create(prog, MT_BPF_TRACE_UPROBE_SESSION, pid, path, offs,
			   cookies, cnt);
}

int uprobe_multi_compat__attach(struct bpf_program *prog, pid_t pid,
				const char *path, const uint64_t *offs,
				const uint64_t *cookies, size_t cnt)
{
	if (!prog || !path || !offs || !cnt)
		return -EINVAL;
	return link_create(prog, MT_BPF_TRACE_UPROBE_MULTI, pid, path, offs,
			   cookies, cnt);
}
