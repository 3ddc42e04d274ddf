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
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <gelf.h>

#include "util/log.h"
#include "process/procmaps.h"
#include "symbolize/symbolize.h"
#include "symbolize/symdb.h"
#include "process/target.h"

struct jit_sym {
	uint64_t start, end;
	char *name;
};

struct target {
	pid_t pid;
	struct symdb *db;
	Dwfl *dwfl;
	Dwfl_Callbacks cbs;
	char *debuginfo_path;
	/* /tmp/perf-PID.map, loaded on the first pc outside every module */
	struct jit_sym *jit;
	size_t n_jit;
	time_t jit_mtime;
	bool jit_tried;
	char exe[PATH_MAX];
	uint64_t last_refresh_ns;
	void *unwind_ctx;
	bool unwind_attached;
};

/* A copy of our own vDSO in a memfd, reported into every target. */
static int vdso_fd = -2;
static char vdso_path[64];

static void vdso_init(void)
{
	uint64_t base = getauxval(AT_SYSINFO_EHDR), size = 0;
	char line[256];
	FILE *f;

	if (vdso_fd != -2)
		return;
	vdso_fd = -1;
	if (!base)
		return;
	f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;

		if (strstr(line, "[vdso]") &&
		    sscanf(line, "%llx-%llx", &a, &b) == 2 && a == base) {
			size = b - a;
			break;
		}
	}
	fclose(f);
	if (!size)
		return;
	vdso_fd = memfd_create("memtel-vdso", MFD_CLOEXEC);
	if (vdso_fd < 0)
		return;
	if (write(vdso_fd, (const void *)(uintptr_t)base, size) !=
	    (ssize_t)size) {
		close(vdso_fd);
		vdso_fd = -1;
		return;
	}
	snprintf(vdso_path, sizeof(vdso_path), "/proc/self/fd/%d", vdso_fd);
}

/* The path to open a mapped file by: /proc/PID/root/PATH while it is the
 * inode the target mapped (keeps debuglink lookups next to it working),
 * else /proc/PID/map_files/START-END. */
static int module_path(pid_t pid, const struct mt_mapping *m, char *buf,
		       size_t len)
{
	struct stat st;
	int n;

	n = snprintf(buf, len, "/proc/%d/root%s", pid, m->path);
	if (n > 0 && (size_t)n < len && !m->deleted && stat(buf, &st) == 0 &&
	    st.st_ino == m->inode)
		return 0;
	return procmaps__target_path(pid, m, buf, len);
}

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

static int register_module(Dwfl_Module *mod, void **ud, const char *name,
			   Dwarf_Addr start, void *arg);

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
		if (module_path(t->pid, lo, path, sizeof(path)))
			continue;
		if (load_bias(path, lo->start, lo->pgoff, &bias, &is_elf) ||
		    !is_elf)
			continue;
		if (!dwfl_report_elf(t->dwfl, m->path, path, -1, bias, true))
			mt_debug("cannot report %s: %s", m->path,
				 dwfl_errmsg(-1));
	}
	for (i = 0; vdso_fd >= 0 && i < maps.n; i++) {
		if (strcmp(maps.v[i].path, "[vdso]"))
			continue;
		if (!keep || !has_module_at(t->dwfl, maps.v[i].start))
			dwfl_report_elf(t->dwfl, "[vdso]", vdso_path, -1,
					maps.v[i].start, true);
		break;
	}
	procmaps__free(&maps);
	if (dwfl_report_end(t->dwfl, NULL, NULL))
		return -EINVAL;
	t->last_refresh_ns = now_ns();
	if (t->db)
		dwfl_getmodules(t->dwfl, register_module, t, 0);
	return 0;
}

static void jit_free(struct target *t)
{
	size_t i;

	for (i = 0; i < t->n_jit; i++)
		free(t->jit[i].name);
	free(t->jit);
	t->jit = NULL;
	t->n_jit = 0;
}

static int cmp_jit(const void *a, const void *b)
{
	const struct jit_sym *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The pid the target knows itself by (innermost NSpid), for its map
 * file's name. */
static pid_t ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t last = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *p, *end;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (p = line + 6;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			last = (pid_t)v;
		}
		break;
	}
	fclose(f);
	return last;
}

/* (Re)load /tmp/perf-PID.map ("START SIZE name" in hex) when it changed. */
static void jit_load(struct target *t)
{
	char path[128], line[4096];
	struct stat st;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/root/tmp/perf-%d.map", t->pid,
		 ns_pid(t->pid));
	if (stat(path, &st) || (t->jit_tried && st.st_mtime == t->jit_mtime))
		return;
	t->jit_tried = true;
	t->jit_mtime = st.st_mtime;
	f = fopen(path, "re");
	if (!f)
		return;
	jit_free(t);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long start, size;
		int off = 0;

		if (sscanf(line, "%llx %llx %n", &start, &size, &off) < 2 ||
		    !off)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (t->n_jit == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct jit_sym *n = realloc(t->jit, ncap * sizeof(*n));

			if (!n)
				break;
			t->jit = n;
			cap = ncap;
		}
		t->jit[t->n_jit].start = start;
		t->jit[t->n_jit].end = start + size;
		t->jit[t->n_jit].name = strdup(line + off);
		if (t->jit[t->n_jit].name)
			t->n_jit++;
	}
	fclose(f);
	qsort(t->jit, t->n_jit, sizeof(*t->jit), cmp_jit);
}

int target__jit_symbol(struct target *t, uint64_t addr,
		       struct sym_result *out)
{
	size_t lo = 0, hi;

	jit_load(t);
	hi = t->n_jit;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->jit[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < t->n_jit && t->jit[lo].start <= addr &&
	    addr < t->jit[lo].end) {
		out->module = "[jit]";
		out->mod_start = t->jit[lo].start;
		out->mod_end = t->jit[lo].end;
		out->frames[0].function = strdup(t->jit[lo].name);
		if (!out->frames[0].function)
			return -ENOMEM;
		out->n_frames = 1;
	}
	return 0;
}

/* The symdb file of a module, registered on first sight (and cached in
 * the module's user data). 0 if it cannot be registered. */
static uint32_t module_file(struct target *t, Dwfl_Module *mod)
{
	const char *name, *mainfile = NULL;
	const unsigned char *bits;
	char key[PATH_MAX + 64];
	Dwarf_Addr bias;
	GElf_Addr bvaddr;
	uint32_t file;
	void **ud;
	int n, i;

	if (!t->db || !dwfl_module_getelf(mod, &bias))
		return 0;
	name = dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, &mainfile,
				NULL);
	if (*ud)
		return (uint32_t)(uintptr_t)*ud;
	n = dwfl_module_build_id(mod, &bits, &bvaddr);
	if (n > 0) {
		for (i = 0; i < n && 2 * i + 2 < (int)sizeof(key); i++)
			snprintf(key + 2 * i, 3, "%02x", bits[i]);
	} else {
		/* no build ID: this process's copy only */
		snprintf(key, sizeof(key), "pid:%d:%s", t->pid, name);
	}
	file = symdb__file(t->db, key, mainfile ? mainfile : name, name,
			   t->debuginfo_path);
	if (file)
		*ud = (void *)(uintptr_t)file;
	return file;
}

static int register_module(Dwfl_Module *mod, void **ud, const char *name,
			   Dwarf_Addr start, void *arg)
{
	(void)ud;
	(void)name;
	(void)start;
	module_file(arg, mod);
	return DWARF_CB_OK;
}

int target__locate(struct target *t, uint64_t pc, struct target_loc *out)
{
	Dwarf_Addr start, end, bias;
	Dwfl_Module *mod;

	mod = dwfl_addrmodule(t->dwfl, pc);
	if (!mod || !dwfl_module_getelf(mod, &bias))
		return -ENOENT;
	dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
	out->vaddr = pc - bias;
	out->mod_start = start;
	out->mod_end = end;
	out->file = module_file(t, mod);
	return out->file ? 0 : -ENOENT;
}

struct target *target__open(pid_t pid, struct symdb *db)
{
	struct target *t;
	char link[64];
	ssize_t n;
	int err;

	elf_version(EV_CURRENT);
	vdso_init();
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->pid = pid;
	t->db = db;
	if (asprintf(&t->debuginfo_path,
		     ":.debug:/proc/%d/root/usr/lib/debug:/usr/lib/debug",
		     pid) < 0) {
		t->debuginfo_path = NULL;
		err = -ENOMEM;
		goto fail;
	}
	t->cbs.find_elf = dwfl_build_id_find_elf;
	t->cbs.find_debuginfo = dwfl_standard_find_debuginfo;
	t->cbs.section_address = dwfl_offline_section_address;
	t->cbs.debuginfo_path = &t->debuginfo_path;
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	n = readlink(link, t->exe, sizeof(t->exe) - 1);
	if (n > 0)
		t->exe[n] = '\0';
	t->dwfl = dwfl_begin(&t->cbs);
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
	jit_free(t);
	free(t->debuginfo_path);
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
