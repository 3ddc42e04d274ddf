// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * target.c - a profiled process's modules in a libdwfl session.
 *
 * Each file-backed mapping group (same path and inode) with an executable
 * segment becomes one module, reported with dwfl_report_elf() at its load
 * bias. Files are opened through /proc/PID/map_files/START-END, which
 * reaches the very inode the target mapped even if it lives in another
 * mount namespace or was deleted since (bcc #5349 is what happens
 * otherwise); /proc/PID/root/PATH is the fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <gelf.h>

#include "log.h"
#include "procmaps.h"
#include "target.h"

struct target {
	pid_t pid;
	Dwfl *dwfl;
	char exe[PATH_MAX];
	uint64_t last_refresh_ns;
	void *unwind_ctx;
	bool unwind_attached;
};

static char *debuginfo_path;

static const Dwfl_Callbacks target_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Load bias of a file whose lowest mapping starts at `start` for file
 * offset `pgoff`: the first PT_LOAD maps file offset p_offset at p_vaddr. */
static int load_bias(const char *path, uint64_t start, uint64_t pgoff,
		     uint64_t *bias, bool *is_elf)
{
	GElf_Phdr ph;
	size_t i, n;
	Elf *elf;
	int fd, err = -ENOENT;

	*is_elf = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &n))
		goto cleanup;
	*is_elf = true;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		/* vaddr of file offset pgoff within this segment */
		if (pgoff < (ph.p_offset & ~0xfffULL) ||
		    pgoff >= ph.p_offset + ph.p_filesz)
			continue;
		*bias = start - ((ph.p_vaddr - ph.p_offset) + pgoff);
		err = 0;
		break;
	}
cleanup:
	elf_end(elf);
	close(fd);
	return err;
}

static bool has_module_at(Dwfl *dwfl, uint64_t addr)
{
	return dwfl_addrmodule(dwfl, addr) != NULL;
}

static int report_modules(struct target *t, bool keep)
{
	struct mt_maps maps = {};
	size_t i, j;
	int err;

	err = procmaps__read(t->pid, &maps);
	if (err)
		return err;
	if (keep)
		dwfl_report_begin_add(t->dwfl);
	else
		dwfl_report_begin(t->dwfl);

	for (i = 0; i < maps.n; i++) {
		const struct mt_mapping *m = &maps.v[i], *lo = m;
		char path[PATH_MAX];
		uint64_t bias = 0;
		bool exec = false, is_elf;

		if (!m->inode || m->path[0] != '/')
			continue;
		/* first mapping of this file? (maps are sorted; a file's
		 * mappings are contiguous in practice) */
		if (i && maps.v[i - 1].inode == m->inode &&
		    !strcmp(maps.v[i - 1].path, m->path))
			continue;
		for (j = i; j < maps.n && maps.v[j].inode == m->inode &&
			    !strcmp(maps.v[j].path, m->path); j++) {
			if (maps.v[j].perms[2] == 'x')
				exec = true;
			if (maps.v[j].pgoff < lo->pgoff)
				lo = &maps.v[j];
		}
		if (!exec)
			continue;
		if (keep) {
			/* already known at this address? */
			for (j = i; j < maps.n && maps.v[j].inode == m->inode; j++)
				if (maps.v[j].perms[2] == 'x')
					break;
			if (j < maps.n && has_module_at(t->dwfl, maps.v[j].start))
				continue;
		}
		if (procmaps__target_path(t->pid, lo, path, sizeof(path)))
			continue;
		if (load_bias(path, lo->start, lo->pgoff, &bias, &is_elf) ||
		    !is_elf)
			continue;
		if (!dwfl_report_elf(t->dwfl, m->path, path, -1, bias, true))
			mt_debug("cannot report %s: %s", m->path,
				 dwfl_errmsg(-1));
	}
	procmaps__free(&maps);
	if (dwfl_report_end(t->dwfl, NULL, NULL))
		return -EINVAL;
	t->last_refresh_ns = now_ns();
	return 0;
}

struct target *target__open(pid_t pid)
{
	struct target *t;
	char link[64];
	ssize_t n;
	int err;

	elf_version(EV_CURRENT);
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	n = readlink(link, t->exe, sizeof(t->exe) - 1);
	if (n > 0)
		t->exe[n] = '\0';
	t->dwfl = dwfl_begin(&target_callbacks);
	if (!t->dwfl) {
		err = -ENOMEM;
		goto fail;
	}
	err = report_modules(t, false);
	if (err)
		goto fail;
	return t;
fail:
	target__close(t);
	errno = -err;
	return NULL;
}

void target__close(struct target *t)
{
	if (!t)
		return;
	if (t->dwfl)
		dwfl_end(t->dwfl);
	free(t);
}

int target__refresh(struct target *t, bool force)
{
	if (!force && now_ns() - t->last_refresh_ns < 100 * 1000000ULL)
		return 0;
	return report_modules(t, true);
}

pid_t target__pid(const struct target *t)
{
	return t->pid;
}

Dwfl *target__dwfl(struct target *t)
{
	return t->dwfl;
}

bool target__covers(struct target *t, uint64_t pc)
{
	return has_module_at(t->dwfl, pc);
}

const char *target__exe(const struct target *t)
{
	return t->exe;
}

void target__set_unwind_ctx(struct target *t, void *ctx)
{
	t->unwind_ctx = ctx;
}

void *target__unwind_ctx(const struct target *t)
{
	return t->unwind_ctx;
}

bool target__unwind_attached(const struct target *t)
{
	return t->unwind_attached;
}

void target__set_unwind_attached(struct target *t)
{
	t->unwind_attached = true;
}
