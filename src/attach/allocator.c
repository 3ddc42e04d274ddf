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
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/allocator.h"
#include "attach/allocsample.h"
#include "process/elfinfo.h"
#include "util/fileio.h"
#include "util/log.h"
#include "process/procmaps.h"

struct op_desc {
	const char *sym;	/* symbol probed */
	const char *label;	/* name in reports and metrics */
	unsigned int args;
	bool frees;		/* free_enter, no return probe */
};

#define RDI PROLOGUE_ARG_RDI
#define RSI PROLOGUE_ARG_RSI
#define RDX PROLOGUE_ARG_RDX
#define ALLOC(op, sym, label, args) [op] = { sym, label, args, false }
#define FREE(op, sym, label) [op] = { sym, label, RDI, true }

/* Order matters for aliases (one address, several names): the first op
 * in enum mt_op names the probe. */
static const struct op_desc ops[MT_OP__COUNT] = {
	ALLOC(MT_OP_MALLOC, "malloc", "malloc", RDI),
	ALLOC(MT_OP_CALLOC, "calloc", "calloc", RDI | RSI),
	ALLOC(MT_OP_REALLOC, "realloc", "realloc", RDI | RSI),
	ALLOC(MT_OP_REALLOCARRAY, "reallocarray", "reallocarray",
	      RDI | RSI | RDX),
	ALLOC(MT_OP_POSIX_MEMALIGN, "posix_memalign", "posix_memalign",
	      RDI | RSI | RDX),
	ALLOC(MT_OP_ALIGNED_ALLOC, "aligned_alloc", "aligned_alloc", RDI | RSI),
	ALLOC(MT_OP_MEMALIGN, "memalign", "memalign", RDI | RSI),
	ALLOC(MT_OP_VALLOC, "valloc", "valloc", RDI),
	ALLOC(MT_OP_PVALLOC, "pvalloc", "pvalloc", RDI),
	FREE(MT_OP_FREE, "free", "free"),
	ALLOC(MT_OP_NEW, "_Znwm", "operator new", RDI),
	ALLOC(MT_OP_NEW_ARRAY, "_Znam", "operator new[]", RDI),
	ALLOC(MT_OP_NEW_NOTHROW, "_ZnwmRKSt9nothrow_t",
	      "operator new(nothrow)", RDI),
	ALLOC(MT_OP_NEW_ARRAY_NOTHROW, "_ZnamRKSt9nothrow_t",
	      "operator new[](nothrow)", RDI),
	ALLOC(MT_OP_NEW_ALIGNED, "_ZnwmSt11align_val_t",
	      "operator new(align)", RDI),
	ALLOC(MT_OP_NEW_ARRAY_ALIGNED, "_ZnamSt11align_val_t",
	      "operator new[](align)", RDI),
	ALLOC(MT_OP_NEW_ALIGNED_NOTHROW, "_ZnwmSt11align_val_tRKSt9nothrow_t",
	      "operator new(align, nothrow)", RDI),
	ALLOC(MT_OP_NEW_ARRAY_ALIGNED_NOTHROW,
	      "_ZnamSt11align_val_tRKSt9nothrow_t",
	      "operator new[](align, nothrow)", RDI),
	FREE(MT_OP_DELETE, "_ZdlPv", "operator delete"),
	FREE(MT_OP_DELETE_ARRAY, "_ZdaPv", "operator delete[]"),
	FREE(MT_OP_DELETE_SIZED, "_ZdlPvm", "operator delete(sized)"),
	FREE(MT_OP_DELETE_ARRAY_SIZED, "_ZdaPvm", "operator delete[](sized)"),
	FREE(MT_OP_DELETE_NOTHROW, "_ZdlPvRKSt9nothrow_t",
	     "operator delete(nothrow)"),
	FREE(MT_OP_DELETE_ARRAY_NOTHROW, "_ZdaPvRKSt9nothrow_t",
	     "operator delete[](nothrow)"),
	FREE(MT_OP_DELETE_ALIGNED, "_ZdlPvSt11align_val_t",
	     "operator delete(align)"),
	FREE(MT_OP_DELETE_ARRAY_ALIGNED, "_ZdaPvSt11align_val_t",
	     "operator delete[](align)"),
	FREE(MT_OP_DELETE_SIZED_ALIGNED, "_ZdlPvmSt11align_val_t",
	     "operator delete(sized, align)"),
	FREE(MT_OP_DELETE_ARRAY_SIZED_ALIGNED, "_ZdaPvmSt11align_val_t",
	     "operator delete[](sized, align)"),
	FREE(MT_OP_DELETE_ALIGNED_NOTHROW,
	     "_ZdlPvSt11align_val_tRKSt9nothrow_t",
	     "operator delete(align, nothrow)"),
	FREE(MT_OP_DELETE_ARRAY_ALIGNED_NOTHROW,
	     "_ZdaPvSt11align_val_tRKSt9nothrow_t",
	     "operator delete[](align, nothrow)"),
	ALLOC(MT_OP_MALLOCX, "mallocx", "mallocx", RDI),
	ALLOC(MT_OP_RALLOCX, "rallocx", "rallocx", RDI | RSI),
	ALLOC(MT_OP_XALLOCX, "xallocx", "xallocx", RDI | RSI),
	FREE(MT_OP_SDALLOCX, "sdallocx", "sdallocx"),
	FREE(MT_OP_DALLOCX, "dallocx", "dallocx"),
	FREE(MT_OP_FREE_SIZED, "free_sized", "free_sized"),
	FREE(MT_OP_FREE_ALIGNED_SIZED, "free_aligned_sized",
	     "free_aligned_sized"),
};

#undef ALLOC
#undef FREE
#undef RDI
#undef RSI
#undef RDX

const char *allocator__op_name(enum mt_op op)
{
	return op < MT_OP__COUNT ? ops[op].label : "?";
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

/* libstdc++'s and libc++'s operator new/delete call malloc/free: through
 * them C++ allocations reach whichever allocator is probed. */
static bool is_cxx_runtime(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "libstdc++.so", 12) ||
	       !strncmp(base, "libc++.so", 9);
}

static bool defines_new(const char *path)
{
	struct elf_func f;

	return elfinfo__find_func(path, "_Znwm", &f) == 0;
}

/* Never silent: say so when a mapped file other than the probed allocator
 * provides allocation entry points the process may bind to. Lookup order
 * is approximated as symbol interposition does it: the executable, then
 * the probed allocator (preloaded or linked early), then the rest. */
static void warn_unprobed(pid_t pid, const struct mt_maps *maps,
			  const struct mt_mapping *chosen, bool chosen_new,
			  const char *exe_path)
{
	const char *base = strrchr(chosen->path, '/');
	bool warned_malloc, warned_new = chosen_new;
	char path[PATH_MAX];
	size_t i;

	/* our in-process sampler wraps the next malloc in lookup order:
	 * what that one serves is seen through it */
	base = base ? base + 1 : chosen->path;
	warned_malloc = !strncmp(base, "libmemtel-sampler", 17);

	for (i = 0; i < maps->n; i++) {
		const struct mt_mapping *m = &maps->v[i];

		if (m->path[0] != '/' || m->perms[2] != 'x' ||
		    !strcmp(m->path, chosen->path) || is_libc(m->path) ||
		    is_cxx_runtime(m->path) || strstr(m->path, "/ld-linux") ||
		    procmaps__target_path(pid, m, path, sizeof(path)))
			continue;
		if (!warned_malloc && defines_malloc(path)) {
			mt_info("warning: %s also defines malloc and free but is not probed (heap probes are on %s): allocations it serves are not seen (likely cause: two allocators loaded, e.g. one preloaded and one linked)",
				m->path, chosen->path);
			warned_malloc = true;
		}
		/* a static libstdc++'s operator new calls malloc: what the
		 * process binds malloc to (the probed allocator, unless the
		 * line above warned) sees it */
		if (!warned_new && defines_new(path) &&
		    !allocsample__forwards(path, "_Znwm", "malloc")) {
			mt_info("warning: operator new likely resolves to %s, which is not probed (heap probes are on %s): C++ allocations are seen only if it calls that malloc (likely cause: %s)",
				m->path, chosen->path,
				!strcmp(m->path, exe_path) ?
				"the program defines its own operator new" :
				"a C++ allocator library loaded beside the malloc one");
			warned_new = true;
		}
	}
}

/* Is the file mapped at path named in the target's LD_PRELOAD? The loader
 * searches preloaded libraries right after the executable, so among
 * several allocators the preloaded one serves the calls. Entries are
 * matched by base name prefix: libtcmalloc_minimal.so.4 is mapped as
 * the file its symlink names, libtcmalloc_minimal.so.4.5.10. */
static bool preloaded(pid_t pid, const char *path)
{
	const char *base = strrchr(path, '/'), *v, *end;
	char env[64], *buf = NULL;
	bool hit = false;
	size_t len = 0;

	base = base ? base + 1 : path;
	snprintf(env, sizeof(env), "/proc/%d/environ", pid);
	if (fileio__read_text(env, 0, 1 << 20, &buf, &len))
		return false;
	for (v = buf; v < buf + len; v += strlen(v) + 1) {
		if (strncmp(v, "LD_PRELOAD=", 11))
			continue;
		for (v += 11; *v && !hit; v = *end ? end + 1 : end) {
			const char *e, *eb;

			end = v + strcspn(v, " :");
			for (e = eb = v; e < end; e++)
				if (*e == '/')
					eb = e + 1;
			hit = end > eb && !strncmp(base, eb, (size_t)(end - eb));
		}
		break;
	}
	free(buf);
	return hit;
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
	bool lib_pre = false;
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
		} else if ((!lib || (!lib_pre && preloaded(pid, m->path))) &&
			   strstr(m->path, "/ld-linux") == NULL &&
			   defines_malloc(path)) {
			lib = m;
			lib_pre = preloaded(pid, m->path);
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
	if (!err)
		warn_unprobed(pid, &maps, exe ? exe : lib ? lib : libc,
			      defines_new(out->open_path), exe_path);
	procmaps__free(&maps);
	return err;
}

/* File offset a function's first instruction jumps to (jmp rel8/rel32),
 * or UINT64_MAX. Offsets and addresses differ by a constant within the
 * text segment. */
static uint64_t tail_jump(const uint8_t *code, long len, uint64_t off)
{
	if (len >= 5 && code[0] == 0xe9)
		return off + 5 + (uint64_t)(int64_t)(int32_t)(code[1] |
			code[2] << 8 | code[3] << 16 | (uint32_t)code[4] << 24);
	if (len >= 2 && code[0] == 0xeb)
		return off + 2 + (uint64_t)(int64_t)(int8_t)code[1];
	return UINT64_MAX;
}

int allocator__plan(const struct allocator *a, struct probe_point *pts,
		    size_t *n)
{
	uint64_t tail[MT_OP__COUNT];
	size_t cnt = 0, i, j;
	int op, err;

	for (op = 0; op < MT_OP__COUNT; op++) {
		/* A free has no return probe, but the stack must still be
		 * unchanged so [rsp] is the caller's return address: need_ret
		 * holds for frees too. Freeing NULL does nothing. */
		struct prologue_req req = {
			.args = ops[op].args,
			.need_ret = true,
			.null_is_noop = ops[op].frees,
		};
		struct probe_point *p = &pts[cnt];
		struct elf_func f;
		uint8_t code[64];
		long got;

		err = elfinfo__find_func(a->open_path, ops[op].sym, &f);
		if (err == -ENOENT && op != MT_OP_MALLOC && op != MT_OP_FREE)
			continue;
		if (err)
			return err;
		memset(p, 0, sizeof(*p));
		p->op = op;
		p->func = ops[op].sym;
		p->func_offset = f.file_offset;
		p->has_ret = !ops[op].frees;
		p->frees = ops[op].frees;
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
		tail[cnt] = tail_jump(code, got, f.file_offset);
		cnt++;
	}
	/* jemalloc's operator new[] is `jmp operator new`: probing both would
	 * see the call twice and, when sampling, give it two chances. The
	 * target's probe sees it with the same stack, so skip the jump. */
	for (i = 0; i < cnt; i++) {
		for (j = 0; j < cnt && !pts[i].alias; j++) {
			if (j == i || tail[i] != pts[j].func_offset ||
			    pts[j].frees != pts[i].frees)
				continue;
			pts[i].alias = true;
			snprintf(pts[i].plan.why, sizeof(pts[i].plan.why),
				 "tail-jumps to %s, probed there", pts[j].func);
		}
	}
	*n = cnt;
	return 0;
}

int allocator__plan_pid(pid_t pid, struct allocator_plan *out)
{
	int err = allocator__find(pid, &out->a);

	if (!err)
		err = allocator__plan(&out->a, out->pts, &out->n);
	if (!err && !out->n)
		err = -ENOENT;
	return err;
}
