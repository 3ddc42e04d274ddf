// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * allocator.c - locate the target's allocator and plan its probe points.
 *
 * Files are read through /proc/PID/map_files or /proc/PID/root (see
 * procmaps__target_path), never through our own mount namespace. Each
 * function's first bytes go to the prologue planner, which picks an
 * instruction the kernel emulates; aliases (memalign and aligned_alloc
 * share an address in glibc) are probed once, under the first name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach/allocator.h"
#include "process/elfinfo.h"
#include "util/log.h"
#include "process/procmaps.h"

struct op_desc {
	const char *name;
	unsigned int args;
	bool ret;
	bool null_is_noop;
};

static const struct op_desc ops[MT_OP__COUNT] = {
	[MT_OP_MALLOC] = { "malloc", PROLOGUE_ARG_RDI, true },
	[MT_OP_CALLOC] = { "calloc", PROLOGUE_ARG_RDI | PROLOGUE_ARG_RSI, true },
	[MT_OP_REALLOC] = { "realloc", PROLOGUE_ARG_RDI | PROLOGUE_ARG_RSI, true },
	[MT_OP_REALLOCARRAY] = { "reallocarray", PROLOGUE_ARG_RDI |
				 PROLOGUE_ARG_RSI | PROLOGUE_ARG_RDX, true },
	[MT_OP_POSIX_MEMALIGN] = { "posix_memalign", PROLOGUE_ARG_RDI |
				   PROLOGUE_ARG_RSI | PROLOGUE_ARG_RDX, true },
	[MT_OP_ALIGNED_ALLOC] = { "aligned_alloc", PROLOGUE_ARG_RDI |
				  PROLOGUE_ARG_RSI, true },
	[MT_OP_MEMALIGN] = { "memalign", PROLOGUE_ARG_RDI | PROLOGUE_ARG_RSI,
			     true },
	[MT_OP_VALLOC] = { "valloc", PROLOGUE_ARG_RDI, true },
	[MT_OP_PVALLOC] = { "pvalloc", PROLOGUE_ARG_RDI, true },
	/* no return probe, but the stack must still be unchanged so [rsp]
	 * is the caller's return address: need_ret is set for free too */
	[MT_OP_FREE] = { "free", PROLOGUE_ARG_RDI, false, true },
};

const char *allocator__op_name(enum mt_op op)
{
	return op < MT_OP__COUNT ? ops[op].name : "?";
}

static bool is_libc(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5);
}

static bool defines_malloc(const char *path)
{
	struct elf_func f;

	return elfinfo__find_func(path, "malloc", &f) == 0 &&
	       elfinfo__find_func(path, "free", &f) == 0;
}

static void fill(struct allocator *out, pid_t pid, const struct mt_mapping *m,
		 const char *kind)
{
	snprintf(out->path, sizeof(out->path), "%s", m->path);
	if (procmaps__target_path(pid, m, out->open_path,
				  sizeof(out->open_path)))
		snprintf(out->open_path, sizeof(out->open_path), "%s", m->path);
	out->kind = kind;
}

int allocator__find(pid_t pid, struct allocator *out)
{
	const struct mt_mapping *libc = NULL, *lib = NULL, *exe = NULL;
	char link[64], exe_path[PATH_MAX] = "", path[PATH_MAX];
	struct mt_maps maps = {};
	ssize_t len;
	size_t i;
	int err;

	err = procmaps__read(pid, &maps);
	if (err)
		return err;
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	len = readlink(link, exe_path, sizeof(exe_path) - 1);
	if (len > 0)
		exe_path[len] = '\0';

	for (i = 0; i < maps.n; i++) {
		const struct mt_mapping *m = &maps.v[i];

		if (m->path[0] != '/' || m->perms[2] != 'x')
			continue;
		if (procmaps__target_path(pid, m, path, sizeof(path)))
			continue;
		if (!exe && !strcmp(m->path, exe_path)) {
			if (defines_malloc(path))
				exe = m;
		} else if (is_libc(m->path)) {
			if (!libc && defines_malloc(path))
				libc = m;
		} else if (!lib && strstr(m->path, "/ld-linux") == NULL &&
			   defines_malloc(path)) {
			lib = m;
		}
	}
	err = 0;
	if (exe)
		fill(out, pid, exe, "executable");
	else if (lib)
		fill(out, pid, lib, "library");
	else if (libc)
		fill(out, pid, libc, "libc");
	else
		err = -ENOENT;
	procmaps__free(&maps);
	return err;
}

int allocator__plan(const struct allocator *a, struct probe_point *pts,
		    size_t *n)
{
	size_t cnt = 0, j;
	int op, err;

	for (op = 0; op < MT_OP__COUNT; op++) {
		struct prologue_req req = {
			.args = ops[op].args,
			.need_ret = true,	/* see MT_OP_FREE above */
			.null_is_noop = ops[op].null_is_noop,
		};
		struct probe_point *p = &pts[cnt];
		struct elf_func f;
		uint8_t code[64];
		long got;

		err = elfinfo__find_func(a->open_path, ops[op].name, &f);
		if (err == -ENOENT && op != MT_OP_MALLOC && op != MT_OP_FREE)
			continue;
		if (err)
			return err;
		memset(p, 0, sizeof(*p));
		p->op = op;
		p->func = ops[op].name;
		p->func_offset = f.file_offset;
		p->has_ret = ops[op].ret;
		for (j = 0; j < cnt; j++)
			if (pts[j].func_offset == f.file_offset)
				p->alias = true;
		got = elfinfo__read_bytes(a->open_path, f.file_offset, code,
					  sizeof(code));
		if (f.size && got > (long)f.size)
			got = (long)f.size;
		if (got <= 0 ||
		    prologue__plan(code, (size_t)got, f.vaddr, &req, &p->plan)) {
			memset(&p->plan, 0, sizeof(p->plan));
			snprintf(p->plan.why, sizeof(p->plan.why),
				 "cannot decode: probing the entry");
		}
		cnt++;
	}
	*n = cnt;
	return 0;
}
