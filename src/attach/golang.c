// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * golang.c - locate the Go runtime's memory-profiler hooks in a Go
 * executable and plan where to probe them.
 *
 * Go keeps its own heap (no malloc), but it already samples one allocation
 * per runtime.MemProfileRate bytes (512 KiB by default) and reports each
 * to runtime.mProf_Malloc; runtime.freeSpecial releases the profile record
 * when the sweeper frees a sampled object. Symbols come from the
 * executable's .symtab (Go binaries keep it unless built with -s). Every Go
 * function starts with a stack-bound check whose `cmp` the kernel would
 * single-step; its `jbe` is emulated and reached with the arguments and
 * %rsp untouched, so the probe goes there. The variable addresses are
 * relocated by the executable's load bias, taken from where the text
 * holding runtime.mProf_Malloc is mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attach/golang.h"
#include "attach/prologue.h"
#include "process/elfinfo.h"
#include "process/procmaps.h"

uint64_t golang__plan(const uint8_t *code, size_t len)
{
	size_t i = 0;

	/* lea -disp(%rsp),%r12 (frames above the small-frame limit) */
	if (len >= 8 && code[0] == 0x4c && code[1] == 0x8d &&
	    code[2] == 0xa4 && code[3] == 0x24)
		i = 8;
	else if (len >= 5 && code[0] == 0x4c && code[1] == 0x8d &&
		 code[2] == 0x64 && code[3] == 0x24)
		i = 5;
	/* cmp 0x10(%r14),%rsp (49 3b 66 10) or ...,%r12 (4d 3b 66 10) */
	if (len < i + 6 || (code[i] != 0x49 && code[i] != 0x4d) ||
	    code[i + 1] != 0x3b || code[i + 2] != 0x66 || code[i + 3] != 0x10)
		return 0;
	i += 4;
	/* jbe rel8 (76) or rel32 (0f 86) */
	if (code[i] != 0x76 && !(code[i] == 0x0f && code[i + 1] == 0x86))
		return 0;
	return prologue__is_emulated(code + i, len - i) ? i : 0;
}

static int plan_site(const char *path, const char *sym, struct elf_func *f,
		     struct golang_site *out)
{
	uint8_t code[32];
	long got;
	int err;

	err = elfinfo__find_func(path, sym, f);
	if (err)
		return err;
	got = elfinfo__read_bytes(path, f->file_offset, code, sizeof(code));
	if (got < 0)
		return (int)got;
	out->offset = golang__plan(code, (size_t)got);
	out->emulated = out->offset ? true :
			prologue__is_emulated(code, (size_t)got);
	out->why = out->offset ? "jbe of the stack-bound check"
			       : "unknown prologue: probing the entry";
	out->offset += f->file_offset;
	return 0;
}

/* Run-time address after asmcgocall's first `call *%rax` (ff d0): the
 * call of the C function once on the system stack, the only indirect call
 * in its switching path. 0 if not found. */
static uint64_t cgo_return(const char *path, uint64_t bias)
{
	struct elf_func f;
	uint8_t code[256];
	long got, i;

	if (elfinfo__find_func(path, "runtime.asmcgocall.abi0", &f))
		return 0;
	got = elfinfo__read_bytes(path, f.file_offset, code, sizeof(code));
	if (f.size && got > (long)f.size)
		got = (long)f.size;
	for (i = 0; i + 1 < got; i++)
		if (code[i] == 0xff && code[i + 1] == 0xd0)
			return f.vaddr + (uint64_t)i + 2 + bias;
	return 0;
}

int golang__find(pid_t pid, struct golang *out)
{
	char link[64], exe[PATH_MAX];
	const struct mt_mapping *m = NULL;
	struct mt_maps maps = {};
	struct elf_func fm, ff;
	uint64_t bias, v;
	ssize_t len;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	len = readlink(link, exe, sizeof(exe) - 1);
	if (len <= 0)
		return errno == ENOENT ? -ESRCH : -errno;
	exe[len] = '\0';
	err = procmaps__read(pid, &maps);
	if (err)
		return err;
	for (i = 0; i < maps.n && !m; i++)
		if (maps.v[i].perms[2] == 'x' && !strcmp(maps.v[i].path, exe))
			m = &maps.v[i];
	err = -ENOENT;
	if (!m)
		goto cleanup;
	snprintf(out->path, sizeof(out->path), "%s", exe);
	if (procmaps__target_path(pid, m, out->open_path,
				  sizeof(out->open_path)))
		goto cleanup;
	err = plan_site(out->open_path, "runtime.mProf_Malloc", &fm,
			&out->malloc);
	if (!err)
		err = plan_site(out->open_path, "runtime.freeSpecial", &ff,
				&out->free);
	if (!err)
		err = elfinfo__find_object(out->open_path,
					   "runtime.MemProfileRate", &v);
	if (err)
		goto cleanup;
	/* The register ABI (Go >= 1.17) keeps g in r14, which the prologue
	 * planned above compares against: without it the arguments are on
	 * the stack (or the code is not what we know), and reading RAX/RBX
	 * would report garbage. */
	if (out->malloc.offset == fm.file_offset ||
	    out->free.offset == ff.file_offset) {
		err = -ENOTSUP;
		goto cleanup;
	}
	/* run-time address of mProf_Malloc minus its link-time address */
	bias = m->start + (fm.file_offset - m->pgoff) - fm.vaddr;
	out->rate_addr = v + bias;
	if (!elfinfo__find_object(out->open_path,
				  "runtime.disableMemoryProfiling", &v))
		out->disabled_addr = v + bias;
	out->cgo_ret = cgo_return(out->open_path, bias);
cleanup:
	procmaps__free(&maps);
	return err;
}

bool golang__profiling_enabled(pid_t pid, const struct golang *g)
{
	char mem[64];
	uint8_t off = 0;
	int fd;

	if (!g->disabled_addr)
		return true;
	snprintf(mem, sizeof(mem), "/proc/%d/mem", pid);
	fd = open(mem, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;	/* cannot tell: probe anyway */
	if (pread(fd, &off, 1, (off_t)g->disabled_addr) != 1)
		off = 0;
	close(fd);
	return !off;
}
