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

#include <sys/sysmacros.h>

#include "util/log.h"
#include "process/elfinfo.h"
#include "process/perfmap.h"
#include "process/procmaps.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "symbolize/symbolize.h"
#include "process/target.h"

/* What we keep of each reported module (its libdwfl user data). */
struct module_info {
	struct target_module pub;	/* first: what target__locate hands out */
	int copy_fd;			/* our handle on the private copy */
	char *display, *file_name;
	char build_id[129];
};

struct target {
	pid_t pid;
	Dwfl *dwfl;
	Dwfl_Callbacks cbs;
	char *debuginfo_path;
	/* /tmp/perf-PID.map, loaded on the first pc outside every module,
	 * then read on from where it ended (at most once a second) */
	struct perfmap jit;
	uint64_t jit_dev, jit_ino;
	uint64_t jit_len;	/* bytes parsed so far */
	uint64_t jit_next_ns;	/* no new look before */
	char exe[PATH_MAX];
	uint64_t last_refresh_ns;
	unsigned refreshes;	/* maps read again since the open */
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

/* Is st the file a mapping shows (device and inode: an inode number alone
 * is only unique within one filesystem)? */
static bool same_inode(const struct stat *st, const struct mt_mapping *m)
{
	return st->st_ino == m->inode &&
	       major(st->st_dev) == m->dev_major &&
	       minor(st->st_dev) == m->dev_minor;
}

/* The name libdwfl knows a module's file by (it looks for a debuglink
 * next to it): /proc/PID/root/PATH while that is the inode the target
 * mapped, else /proc/PID/map_files/START-END. */
static int module_path(pid_t pid, const struct mt_mapping *m, char *buf,
		       size_t len)
{
	struct stat st;
	int n;

	n = snprintf(buf, len, "/proc/%d/root%s", pid, m->path);
	if (n > 0 && (size_t)n < len && !m->deleted &&
	    lstat(buf, &st) == 0 && same_inode(&st, m))
		return 0;
	return procmaps__target_path(pid, m, buf, len);
}

/* A private copy (elfinfo__copy) of the very file mapping m maps, read
 * through /proc/PID/map_files (never through a path the target can
 * re-point), else through path if that is still the same inode. */
static int module_copy(pid_t pid, const struct mt_mapping *m,
		       const char *path, struct stat *stp)
{
	char mf[128];
	struct stat st;
	int fd, ret;

	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	fd = elfinfo__open(mf, &st);
	if (fd < 0)
		fd = elfinfo__open(path, &st);
	if (fd < 0)
		return fd;
	if (!same_inode(&st, m)) {
		close(fd);
		return -ESTALE;
	}
	ret = elfinfo__copy_fd(fd, &st);
	close(fd);
	*stp = st;
	return ret;
}

/* Load bias of a file whose lowest mapping starts at `start` for file
 * offset `pgoff`: the first PT_LOAD maps file offset p_offset at p_vaddr. */
static int load_bias(int fd, uint64_t start, uint64_t pgoff,
		     uint64_t *bias, bool *is_elf)
{
	GElf_Phdr ph;
	size_t i, n;
	Elf *elf;
	int err = -ENOENT;

	*is_elf = false;
	elf = elf_begin(fd, ELF_C_READ, NULL);
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
	return err;
}

static void module_info_free(struct module_info *mi)
{
	if (!mi)
		return;
	if (mi->copy_fd >= 0)
		close(mi->copy_fd);
	free(mi->display);
	free(mi->file_name);
	free(mi);
}

/* Hang on a just reported module (its libdwfl user data) what
 * symbolizers need: the identity of the file, its build ID, and our own
 * handle on the private copy, which outlives the process. */
static int module_info_attach(struct target *t, Dwfl_Module *mod,
			      const char *display, const char *file_name,
			      int copy_fd, const struct stat *st)
{
	const unsigned char *bits;
	struct module_info *mi;
	GElf_Addr bvaddr;
	void **ud;
	int n, i;

	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (*ud)
		return 0;
	mi = calloc(1, sizeof(*mi));
	if (!mi)
		return -ENOMEM;
	/* kept so the file can be symbolized after the process exited */
	mi->copy_fd = fcntl(copy_fd, F_DUPFD_CLOEXEC, 0);
	mi->display = strdup(display);
	mi->file_name = strdup(file_name);
	if (mi->copy_fd < 0 || !mi->display || !mi->file_name) {
		module_info_free(mi);
		return -ENOMEM;
	}
	mi->pub.dev = st->st_dev;
	mi->pub.ino = st->st_ino;
	mi->pub.size = (uint64_t)st->st_size;
	n = dwfl_module_build_id(mod, &bits, &bvaddr);
	for (i = 0; i < n && 2 * i + 2 < (int)sizeof(mi->build_id); i++)
		snprintf(mi->build_id + 2 * i, 3, "%02x", bits[i]);
	mi->pub.display = mi->display;
	mi->pub.file_name = mi->file_name;
	mi->pub.build_id = mi->build_id;
	mi->pub.debuginfo_path = t->debuginfo_path;
	*ud = mi;
	return 0;
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
		Dwfl_Module *mod;
		struct stat st;
		int fd;

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
		fd = module_copy(t->pid, lo, path, &st);
		if (fd < 0)
			continue;
		if (load_bias(fd, lo->start, lo->pgoff, &bias, &is_elf) ||
		    !is_elf) {
			close(fd);
			continue;
		}
		/* on success the module owns fd */
		mod = dwfl_report_elf(t->dwfl, m->path, path, fd, bias, true);
		if (!mod) {
			mt_debug("cannot report %s: %s", m->path,
				 dwfl_errmsg(-1));
			close(fd);
			continue;
		}
		if (module_info_attach(t, mod, m->path, path, fd, &st))
			mt_debug("no memory for module %s", m->path);
	}
	for (i = 0; vdso_fd >= 0 && i < maps.n; i++) {
		if (strcmp(maps.v[i].path, "[vdso]"))
			continue;
		if (!keep || !has_module_at(t->dwfl, maps.v[i].start)) {
			Dwfl_Module *mod;
			struct stat st;

			mod = dwfl_report_elf(t->dwfl, "[vdso]", vdso_path, -1,
					      maps.v[i].start, true);
			if (mod && !fstat(vdso_fd, &st))
				module_info_attach(t, mod, "[vdso]", vdso_path,
						   vdso_fd, &st);
		}
		break;
	}
	procmaps__free(&maps);
	if (dwfl_report_end(t->dwfl, NULL, NULL))
		return -EINVAL;
	t->last_refresh_ns = clock__mono_ns();
	return 0;
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

/* May a perf map owned by uid be believed for this target? Only its own
 * (the owner of /proc/PID is the process's effective uid) or root's: any
 * other user could plant names for it in a shared /tmp. */
static bool jit_owner_ok(const struct target *t, uid_t uid)
{
	char path[64];
	struct stat st;

	if (uid == 0)
		return true;
	snprintf(path, sizeof(path), "/proc/%d", t->pid);
	return stat(path, &st) == 0 && st.st_uid == uid;
}

/* Load /tmp/perf-PID.map as the target sees it, or read on from where the
 * last load ended (JITs append). The file is the target's: opened inside
 * its root without following any link, a regular file only (a FIFO or a
 * device is refused: no hang, no endless read), at most
 * PERFMAP_MAX_BYTES, and looked at no more than once a second. */
static void jit_load(struct target *t)
{
	char root[64], rel[64], *buf = NULL;
	uint64_t now = clock__mono_ns();
	size_t len = 0, used = 0;
	struct stat st;
	int fd;

	if (now < t->jit_next_ns)
		return;
	t->jit_next_ns = now + 1000000000ULL;
	snprintf(root, sizeof(root), "/proc/%d/root", t->pid);
	snprintf(rel, sizeof(rel), "tmp/perf-%d.map", ns_pid(t->pid));
	fd = fileio__open_in_root(root, rel, FILEIO_REGULAR, PERFMAP_MAX_BYTES,
				  &st);
	if (fd < 0)
		return;
	if (!jit_owner_ok(t, st.st_uid))
		goto cleanup;
	if (st.st_dev != t->jit_dev || st.st_ino != t->jit_ino ||
	    (uint64_t)st.st_size < t->jit_len) {
		/* a new file, or rewritten shorter: start over */
		perfmap__clear(&t->jit);
		t->jit_dev = st.st_dev;
		t->jit_ino = st.st_ino;
		t->jit_len = 0;
	}
	if ((uint64_t)st.st_size == t->jit_len ||
	    lseek(fd, (off_t)t->jit_len, SEEK_SET) < 0)
		goto cleanup;
	if (fileio__read_fd(fd, PERFMAP_MAX_BYTES - t->jit_len, &buf, &len))
		goto cleanup;
	perfmap__parse(&t->jit, buf, len, &used);
	t->jit_len += used;
cleanup:
	free(buf);
	close(fd);
}

int target__jit_symbol(struct target *t, uint64_t addr,
		       struct sym_result *out)
{
	const struct perfmap_sym *s;

	jit_load(t);
	s = perfmap__find(&t->jit, addr);
	if (s) {
		out->module = "[jit]";
		out->mod_start = s->start;
		out->mod_end = s->end;
		out->frames[0].function = strdup(s->name);
		if (!out->frames[0].function)
			return -ENOMEM;
		out->n_frames = 1;
	}
	return 0;
}

int target__module_copy(const struct target_module *m)
{
	const struct module_info *mi = (const struct module_info *)m;
	int fd = fcntl(mi->copy_fd, F_DUPFD_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

int target__locate(struct target *t, uint64_t pc, struct target_loc *out)
{
	Dwarf_Addr start, end, bias;
	Dwfl_Module *mod;
	void **ud;

	mod = dwfl_addrmodule(t->dwfl, pc);
	if (!mod || !dwfl_module_getelf(mod, &bias))
		return -ENOENT;
	dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
	out->vaddr = pc - bias;
	out->mod_start = start;
	out->mod_end = end;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	out->mod = *ud;
	return out->mod ? 0 : -ENOENT;
}

/* Dwfl_Callbacks.find_debuginfo of a target's own session, which only
 * unwinds: CFI is in the file itself (.eh_frame, or .debug_frame in Go
 * binaries), and a separate debug file would be loaded whole for nothing
 * (libdw decompresses every .debug_* section at dwarf_begin: megabytes per
 * process, again for every new process mapping libc, whenever libdwfl
 * falls back to .debug_frame for a pc .eh_frame does not cover). symdb
 * finds debug files for symbols with the path in target_module. */
static int no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			Dwarf_Addr base, const char *file_name,
			const char *debuglink_file, GElf_Word debuglink_crc,
			char **debuginfo_file_name)
{
	(void)mod;
	(void)userdata;
	(void)modname;
	(void)base;
	(void)file_name;
	(void)debuglink_file;
	(void)debuglink_crc;
	*debuginfo_file_name = NULL;
	return -1;
}

struct target *target__open(pid_t pid)
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
	if (asprintf(&t->debuginfo_path,
		     ":.debug:/proc/%d/root/usr/lib/debug:/usr/lib/debug",
		     pid) < 0) {
		t->debuginfo_path = NULL;
		err = -ENOMEM;
		goto fail;
	}
	t->cbs.find_elf = dwfl_build_id_find_elf;
	t->cbs.find_debuginfo = no_debuginfo;
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

static int free_module_info(Dwfl_Module *mod, void **ud, const char *name,
			    Dwarf_Addr start, void *arg)
{
	(void)mod;
	(void)name;
	(void)start;
	(void)arg;
	module_info_free(*ud);
	*ud = NULL;
	return DWARF_CB_OK;
}

void target__close(struct target *t)
{
	if (!t)
		return;
	if (t->dwfl) {
		dwfl_getmodules(t->dwfl, free_module_info, NULL, 0);
		dwfl_end(t->dwfl);
	}
	perfmap__clear(&t->jit);
	free(t->debuginfo_path);
	free(t);
}

int target__refresh(struct target *t, bool force)
{
	/* the first two are free: a process opened at its first CPU sample,
	 * while its loader still maps its libraries, lacks some or all */
	if (!force && t->refreshes >= 2 &&
	    clock__mono_ns() - t->last_refresh_ns < 100 * 1000000ULL)
		return 0;
	if (t->refreshes < 2)
		t->refreshes++;
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
