// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * elfinfo.c - the few ELF facts the loader needs before symbolization, read
 * with elfutils' libelf: a function's file offset (uprobes attach by file
 * offset, not address), raw bytes at an offset (for probe placement), the
 * GNU build ID, and whether an executable carries all its code itself.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include "process/elfinfo.h"
#include "util/fileio.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

/* In .gnu.version, this bit marks a non-default ("name@VER") version. */
#define VERSYM_HIDDEN 0x8000

static pthread_once_t elf_once = PTHREAD_ONCE_INIT;
static bool elf_ok;

static void elf_init_once(void)
{
	elf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

/* Only the /proc links we build ourselves may be followed: map_files
 * links lead to the exact inode the target mapped, /proc/self/fd to a copy
 * of ours. Anything else a target controls is opened without following
 * its last component. */
/* Is path /proc/PID/exe (or /proc/self/exe)? */
static bool is_proc_exe(const char *path)
{
	const char *p = path + 6;

	if (strncmp(path, "/proc/", 6))
		return false;
	if (!strncmp(p, "self", 4))
		p += 4;
	else
		while (*p >= '0' && *p <= '9')
			p++;
	return p > path + 6 && !strcmp(p, "/exe");
}

/* The kernel's own links (map_files/, exe, fd/) lead to the very inode a
 * process has mapped or executed: those are followed; anything else a
 * target could have planted is not. */
static unsigned int open_flags(const char *path)
{
	if (!strncmp(path, "/proc/", 6) &&
	    (strstr(path, "/map_files/") || !strncmp(path, "/proc/self/fd/", 14) ||
	     is_proc_exe(path)))
		return FILEIO_REGULAR | FILEIO_FOLLOW;
	return FILEIO_REGULAR;
}

int elfinfo__open(const char *path, struct stat *st)
{
	return fileio__open(path, open_flags(path), 0, st);
}

/* Open path and start libelf on it; *fd and *elf are set on success.
 * ELF_C_READ, not ELF_C_READ_MMAP: libelf then reads with pread, so a
 * target that truncates the file under us gives a read error instead of
 * SIGBUS in the profiler. */
static int elf_open(const char *path, int *fd, Elf **elf)
{
	int err;

	pthread_once(&elf_once, elf_init_once);
	if (!elf_ok)
		return -ENOTSUP;

	*elf = NULL;
	*fd = elfinfo__open(path, NULL);
	if (*fd < 0)
		return *fd;

	*elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!*elf) {
		err = -EINVAL;
		goto cleanup;
	}
	if (elf_kind(*elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	return 0;

cleanup:
	elf_end(*elf);
	*elf = NULL;
	close(*fd);
	*fd = -1;
	return err;
}

static void elf_close(int fd, Elf *elf)
{
	elf_end(elf);
	if (fd >= 0)
		close(fd);
}

/*
 * How well symbol name `sym` matches `name`: 2 for an exact or default
 * version ("malloc", "malloc@@GLIBC_2.2.5", or a .dynsym entry whose version
 * is not hidden), 1 for a non-default version ("realpath@GLIBC_2.2.5"),
 * 0 for no match.
 */
static int name_rank(const char *sym, const char *name, bool hidden)
{
	size_t n = strlen(name);

	if (strncmp(sym, name, n))
		return 0;
	if (sym[n] == '\0')
		return hidden ? 1 : 2;
	if (sym[n] != '@')
		return 0;
	return sym[n + 1] == '@' ? 2 : 1;
}

/* Best defined function (or, with object, data object) named `name` in
 * symbol table section scn. */
static int find_in_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			  Elf_Data *versym, const char *name, bool object,
			  GElf_Sym *best)
{
	int best_rank = 0;
	Elf_Data *data;
	size_t i, n;

	data = elf_getdata(scn, NULL);
	if (!data || !sh->sh_entsize)
		return 0;
	n = sh->sh_size / sh->sh_entsize;

	for (i = 1; i < n; i++) {
		GElf_Versym vs = 0;
		const char *sname;
		bool hidden = false;
		GElf_Sym sym;
		int type, rank;

		if (!gelf_getsym(data, i, &sym))
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		if (object ? type != STT_OBJECT :
			     type != STT_FUNC && type != STT_GNU_IFUNC)
			continue;
		if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		sname = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!sname)
			continue;
		if (versym && gelf_getversym(versym, i, &vs))
			hidden = vs & VERSYM_HIDDEN;
		rank = name_rank(sname, name, hidden);
		if (rank > best_rank) {
			*best = sym;
			best_rank = rank;
			if (rank == 2)
				break;
		}
	}
	return best_rank;
}

/* Best symbol named `name` (a function, or with object a data object):
 * .dynsym first (with .gnu.version telling default from hidden versions),
 * then .symtab. Nonzero if found. */
static int lookup(Elf *elf, const char *name, bool object, GElf_Sym *sym)
{
	static const GElf_Word order[] = { SHT_DYNSYM, SHT_SYMTAB };
	Elf_Data *versym = NULL;
	Elf_Scn *scn;
	int found = 0;
	size_t i;

	for (scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_GNU_versym)
			versym = elf_getdata(scn, NULL);
	}

	for (i = 0; i < sizeof(order) / sizeof(order[0]) && !found; i++) {
		for (scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
			GElf_Shdr sh;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != order[i])
				continue;
			found = find_in_symtab(elf, scn, &sh,
					       order[i] == SHT_DYNSYM ? versym : NULL,
					       name, object, sym);
			if (found)
				break;
		}
	}
	return found;
}

int elfinfo__find_object(const char *path, const char *name, uint64_t *vaddr)
{
	GElf_Sym sym;
	int fd, err;
	Elf *elf;

	if (!path || !name || !*name || !vaddr)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;
	err = -ENOENT;
	if (lookup(elf, name, true, &sym)) {
		*vaddr = sym.st_value;
		err = 0;
	}
	elf_close(fd, elf);
	return err;
}

int elfinfo__find_func(const char *path, const char *name, struct elf_func *out)
{
	GElf_Sym sym;
	size_t i, nph;
	int fd, err, found;
	Elf *elf;

	if (!path || !name || !*name || !out)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;

	found = lookup(elf, name, false, &sym);
	if (!found) {
		err = -ENOENT;
		goto cleanup;
	}

	/* Map the address to the file through the PT_LOAD containing it. */
	if (elf_getphdrnum(elf, &nph)) {
		err = -EINVAL;
		goto cleanup;
	}
	err = -ENOENT;
	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		if (sym.st_value < ph.p_vaddr ||
		    sym.st_value - ph.p_vaddr >= ph.p_filesz)
			continue;
		out->vaddr = sym.st_value;
		out->file_offset = sym.st_value - ph.p_vaddr + ph.p_offset;
		out->size = sym.st_size;
		err = 0;
		break;
	}

cleanup:
	elf_close(fd, elf);
	return err;
}

int elfinfo__section(const char *path, const char *name,
		     struct elf_section *out)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;
	int fd, err;
	Elf *elf;

	if (!path || !name || !out)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;
	err = -ENOENT;
	if (elf_getshdrstrndx(elf, &shstrndx))
		goto cleanup;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, &sh))
			continue;
		n = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!n || strcmp(n, name) || sh.sh_type == SHT_NOBITS)
			continue;
		out->vaddr = sh.sh_addr;
		out->offset = sh.sh_offset;
		out->size = sh.sh_size;
		err = 0;
		break;
	}
cleanup:
	elf_close(fd, elf);
	return err;
}

/* In one SHT_RELA section linked to a symbol table: the slot of a
 * JUMP_SLOT/GLOB_DAT relocation against name. */
static int got_in_rela(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
		       const char *name, uint64_t *vaddr)
{
	Elf_Scn *symscn = elf_getscn(elf, sh->sh_link);
	Elf_Data *data = elf_getdata(scn, NULL), *syms;
	GElf_Shdr symsh;
	size_t i, n;

	if (!data || !symscn || !gelf_getshdr(symscn, &symsh) ||
	    !sh->sh_entsize)
		return -ENOENT;
	syms = elf_getdata(symscn, NULL);
	if (!syms)
		return -ENOENT;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		GElf_Rela r;
		GElf_Sym sym;
		const char *sn;
		unsigned long type;

		if (!gelf_getrela(data, (int)i, &r))
			break;
		type = GELF_R_TYPE(r.r_info);
		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
			continue;
		if (!gelf_getsym(syms, (int)GELF_R_SYM(r.r_info), &sym))
			continue;
		sn = elf_strptr(elf, symsh.sh_link, sym.st_name);
		if (sn && !strcmp(sn, name)) {
			*vaddr = r.r_offset;
			return 0;
		}
	}
	return -ENOENT;
}

int elfinfo__got_slot(const char *path, const char *name, uint64_t *vaddr)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int fd, err;
	Elf *elf;

	if (!path || !name || !*name || !vaddr)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;
	err = -ENOENT;
	while (err && (scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_RELA)
			err = got_in_rela(elf, scn, &sh, name, vaddr);
	elf_close(fd, elf);
	return err;
}

long elfinfo__read_bytes(const char *path, uint64_t offset, uint8_t *buf,
			 size_t len)
{
	size_t done = 0;
	long ret;
	int fd;

	if (!path || (!buf && len))
		return -EINVAL;
	if (offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (len > (size_t)LONG_MAX)
		len = LONG_MAX;

	fd = elfinfo__open(path, NULL);
	if (fd < 0)
		return fd;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, offset + done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;	/* EOF: return what we have */
		done += n;
	}
	ret = done;

cleanup:
	close(fd);
	return ret;
}

/* Look for NT_GNU_BUILD_ID in one note data block. */
static int build_id_in_notes(Elf_Data *data, char *hex, size_t len)
{
	size_t off = 0, name_off, desc_off, i;
	GElf_Nhdr nh;

	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const uint8_t *desc = (const uint8_t *)data->d_buf + desc_off;
		const char *nm = (const char *)data->d_buf + name_off;

		if (nh.n_type != NT_GNU_BUILD_ID || nh.n_namesz != 4 ||
		    memcmp(nm, "GNU", 4) || nh.n_descsz == 0)
			continue;
		if (len < 2 * (size_t)nh.n_descsz + 1)
			return -ERANGE;
		for (i = 0; i < nh.n_descsz; i++)
			snprintf(hex + 2 * i, 3, "%02x", desc[i]);
		return 0;
	}
	return -ENOENT;
}

int elfinfo__build_id(const char *path, char *hex, size_t len)
{
	size_t i, nph;
	Elf_Scn *scn;
	int fd, err;
	Elf *elf;

	if (!path || !hex)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;

	/* Sections first; libelf picks the right note alignment for them. */
	err = -ENOENT;
	for (scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
		Elf_Data *data;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		err = build_id_in_notes(data, hex, len);
		if (err != -ENOENT)
			goto cleanup;
	}

	/* Section headers may be stripped; program headers never are. */
	if (elf_getphdrnum(elf, &nph))
		goto cleanup;
	for (i = 0; i < nph; i++) {
		Elf_Data *data;
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_NOTE)
			continue;
		data = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 :
							      ELF_T_NHDR);
		if (!data)
			continue;
		err = build_id_in_notes(data, hex, len);
		if (err != -ENOENT)
			goto cleanup;
	}

cleanup:
	elf_close(fd, elf);
	return err;
}

/* True if the PT_DYNAMIC segment lists no DT_NEEDED library. */
static bool dynamic_has_no_needed(Elf *elf, const GElf_Phdr *dyn)
{
	Elf_Data *data;
	size_t i, n;

	data = elf_getdata_rawchunk(elf, dyn->p_offset, dyn->p_filesz,
				    ELF_T_DYN);
	if (!data)
		return false;
	n = dyn->p_filesz / gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT);
	for (i = 0; i < n; i++) {
		GElf_Dyn d;

		if (!gelf_getdyn(data, i, &d))
			return false;
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_NEEDED)
			return false;
	}
	return true;
}

/*
 * "Static" here means the executable carries all of its code itself, so an
 * allocator must be probed inside it rather than in libc: no PT_INTERP, and
 * either ET_EXEC (classic -static) or ET_DYN whose PT_DYNAMIC, if any, has
 * no DT_NEEDED (-static-pie has a PT_DYNAMIC for self-relocation only). A
 * self-contained shared object without dependencies (ld.so itself) also
 * counts; a normal library has DT_NEEDED entries and does not.
 */
bool elfinfo__is_static(const char *path)
{
	bool interp = false, no_needed = true;
	GElf_Ehdr eh = {};
	size_t i, nph;
	int fd;
	Elf *elf;

	if (!path || elf_open(path, &fd, &elf))
		return false;
	if (!gelf_getehdr(elf, &eh) || elf_getphdrnum(elf, &nph)) {
		no_needed = false;
		goto cleanup;
	}
	for (i = 0; i < nph; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph))
			continue;
		if (ph.p_type == PT_INTERP)
			interp = true;
		else if (ph.p_type == PT_DYNAMIC && eh.e_type == ET_DYN)
			no_needed = dynamic_has_no_needed(elf, &ph);
	}

cleanup:
	elf_close(fd, elf);
	if (interp || !no_needed)
		return false;
	return eh.e_type == ET_EXEC || eh.e_type == ET_DYN;
}

/*
 * Private copies. libdwfl maps every ELF and debug file it opens; a file
 * the target can truncate must never be mapped into us (SIGBUS). So the
 * bytes are copied once into a sealed memfd that only we hold, and libdwfl
 * maps that. Copies are shared by file identity (st_dev, st_ino, size,
 * mtime): every process mapping the same libc gets a dup of one memfd,
 * whose pages exist once. The cache is small and evicts the least recently
 * used copy (the dups already handed out keep their pages alive).
 */
#define COPY_CACHE 64

struct elf_copy {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int fd;			/* -1: empty slot */
	uint64_t used;
};

static struct elf_copy copies[COPY_CACHE];
static uint64_t copy_clock;
static bool copies_ready;
static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_file(const struct elf_copy *c, const struct stat *st)
{
	return c->fd >= 0 && c->dev == st->st_dev && c->ino == st->st_ino &&
	       c->size == st->st_size &&
	       c->mtime.tv_sec == st->st_mtim.tv_sec &&
	       c->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Copy [off, off + len) of fd into mfd at the same offset (clipped to
 * size). A short read (the file truncated under us, an I/O error) leaves
 * zeros: libelf then sees a consistent, partly empty file. */
static void copy_range(int mfd, int fd, uint64_t off, uint64_t len,
		       uint64_t size)
{
	off_t in = (off_t)off, out = (off_t)off;

	if (off >= size)
		return;
	if (len > size - off)
		len = size - off;
	while (len) {
		ssize_t n = copy_file_range(fd, &in, mfd, &out, (size_t)len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* copy_file_range refuses some pairs (EXDEV, EINVAL
			 * on old kernels): sendfile writes at the memfd's
			 * offset */
			if (n < 0 && lseek(mfd, out, SEEK_SET) == out) {
				n = sendfile(mfd, fd, &in, (size_t)len);
				if (n > 0) {
					out += n;
					len -= (uint64_t)n;
					continue;
				}
			}
			return;
		}
		len -= (uint64_t)n;
	}
}

/* Does symbolizing or unwinding read this section? Code, writable data
 * and read-only data (.text, .data, .rodata: most of a binary's bytes)
 * are never read from the copy; symbol and string tables, CFI, notes,
 * DWARF and everything libelf needs to find them are. */
static bool section_needed(const Elf64_Shdr *sh, const char *name)
{
	if (sh->sh_type == SHT_NOBITS || !sh->sh_size)
		return false;
	if (!(sh->sh_flags & SHF_ALLOC))
		return true;	/* .symtab, .debug_*, .gnu_debugdata... */
	if (sh->sh_flags & (SHF_EXECINSTR | SHF_WRITE))
		return false;
	return !name || strncmp(name, ".rodata", 7);
}

/* Copy into mfd only what symbolization reads of a 64-bit ELF file
 * (program and section headers, the sections section_needed() keeps, the
 * notes and the first and last 4 KiB, which the OpenTelemetry htlhash
 * reads); the rest of the memfd is a hole, which costs no memory. -EINVAL
 * for what it cannot parse (the caller copies the whole file). */
static int copy_sparse(int mfd, int fd, uint64_t size)
{
	Elf64_Ehdr eh;
	Elf64_Shdr *sh = NULL;
	Elf64_Phdr ph;
	char *names = NULL;
	uint64_t names_len = 0;
	int err = -EINVAL;
	size_t i;

	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || !eh.e_shnum ||
	    eh.e_shnum >= SHN_LORESERVE || eh.e_shstrndx >= eh.e_shnum ||
	    eh.e_shoff >= size ||
	    eh.e_shnum * sizeof(Elf64_Shdr) > size - eh.e_shoff ||
	    (eh.e_phnum && eh.e_phentsize != sizeof(Elf64_Phdr)))
		return -EINVAL;
	if (ftruncate(mfd, (off_t)size))
		return -errno;
	sh = calloc(eh.e_shnum, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	if (pread(fd, sh, eh.e_shnum * sizeof(*sh), (off_t)eh.e_shoff) !=
	    (ssize_t)(eh.e_shnum * sizeof(*sh)))
		goto cleanup;
	if (sh[eh.e_shstrndx].sh_type == SHT_STRTAB &&
	    sh[eh.e_shstrndx].sh_offset < size &&
	    sh[eh.e_shstrndx].sh_size <= size - sh[eh.e_shstrndx].sh_offset &&
	    sh[eh.e_shstrndx].sh_size < (1u << 20)) {
		names_len = sh[eh.e_shstrndx].sh_size;
		names = calloc(1, names_len + 1);
		if (!names) {
			err = -ENOMEM;
			goto cleanup;
		}
		if (pread(fd, names, names_len,
			  (off_t)sh[eh.e_shstrndx].sh_offset) !=
		    (ssize_t)names_len)
			names_len = 0;
	}
	copy_range(mfd, fd, 0, 4096, size);
	copy_range(mfd, fd, size > 4096 ? size - 4096 : 0, 4096, size);
	copy_range(mfd, fd, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(ph), size);
	copy_range(mfd, fd, eh.e_shoff, eh.e_shnum * sizeof(*sh), size);
	for (i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + i * sizeof(ph))) != sizeof(ph))
			break;
		/* notes (build ID without section headers), the dynamic
		 * section, the CFI index */
		if (ph.p_type == PT_NOTE || ph.p_type == PT_DYNAMIC ||
		    ph.p_type == PT_GNU_EH_FRAME || ph.p_type == PT_INTERP)
			copy_range(mfd, fd, ph.p_offset, ph.p_filesz, size);
	}
	for (i = 1; i < eh.e_shnum; i++) {
		const char *name = sh[i].sh_name < names_len ?
					   names + sh[i].sh_name : NULL;

		if (section_needed(&sh[i], name))
			copy_range(mfd, fd, sh[i].sh_offset, sh[i].sh_size, size);
	}
	err = 0;
cleanup:
	free(names);
	free(sh);
	return err;
}

/* Copy fd (size bytes) into a new sealed memfd: sparsely for a 64-bit
 * ELF file, whole otherwise. */
static int copy_to_memfd(int fd, off_t size)
{
	off_t off = 0;
	int mfd, err;

	mfd = memfd_create("memtel-elf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return -errno;
	err = copy_sparse(mfd, fd, (uint64_t)size);
	if (err == -ENOMEM) {
		close(mfd);
		return err;
	}
	while (err && off < size) {
		ssize_t n = sendfile(mfd, fd, &off, (size_t)(size - off));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* truncated under us (or an I/O error): keep what
			 * we have; libelf sees a consistent short file */
			break;
		}
		if (n == 0)
			break;
	}
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
				    F_SEAL_WRITE | F_SEAL_SEAL)) {
		err = -errno;
		close(mfd);
		return err;
	}
	return mfd;
}

int elfinfo__copy_fd(int fd, const struct stat *st_in)
{
	struct elf_copy *slot = NULL;
	struct stat st;
	int i, mfd, ret;

	if (st_in)
		st = *st_in;
	else if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > ELFINFO_COPY_MAX)
		return -EFBIG;

	pthread_mutex_lock(&copy_lock);
	if (!copies_ready) {
		for (i = 0; i < COPY_CACHE; i++)
			copies[i].fd = -1;
		copies_ready = true;
	}
	for (i = 0; i < COPY_CACHE; i++) {
		if (same_file(&copies[i], &st)) {
			copies[i].used = ++copy_clock;
			ret = fcntl(copies[i].fd, F_DUPFD_CLOEXEC, 0);
			ret = ret < 0 ? -errno : ret;
			goto out;
		}
		if (!slot || copies[i].used < slot->used)
			slot = &copies[i];
	}
	mfd = copy_to_memfd(fd, st.st_size);
	if (mfd < 0) {
		ret = mfd;
		goto out;
	}
	ret = fcntl(mfd, F_DUPFD_CLOEXEC, 0);
	if (ret < 0) {
		ret = -errno;
		close(mfd);
		goto out;
	}
	if (slot->fd >= 0)
		close(slot->fd);
	*slot = (struct elf_copy){
		.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
		.mtime = st.st_mtim, .fd = mfd, .used = ++copy_clock,
	};
out:
	pthread_mutex_unlock(&copy_lock);
	return ret;
}

int elfinfo__copy(const char *path, struct stat *st)
{
	struct stat sb;
	int fd, ret;

	fd = elfinfo__open(path, &sb);
	if (fd < 0)
		return fd;
	ret = elfinfo__copy_fd(fd, &sb);
	close(fd);
	if (ret >= 0 && st)
		*st = sb;
	return ret;
}

void elfinfo__copies_drop(void)
{
	int i;

	pthread_mutex_lock(&copy_lock);
	for (i = 0; copies_ready && i < COPY_CACHE; i++) {
		if (copies[i].fd >= 0)
			close(copies[i].fd);
		copies[i].fd = -1;
		copies[i].used = 0;
	}
	pthread_mutex_unlock(&copy_lock);
}

int elfinfo__find_debuginfo(Dwfl_Module *mod, void **userdata,
			    const char *modname, Dwarf_Addr base,
			    const char *file_name, const char *debuglink_file,
			    GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	int fd, copy;

	fd = dwfl_standard_find_debuginfo(mod, userdata, modname, base,
					  file_name, debuglink_file,
					  debuglink_crc, debuginfo_file_name);
	if (fd < 0)
		return fd;
	copy = elfinfo__copy_fd(fd, NULL);
	close(fd);
	if (copy < 0) {
		free(*debuginfo_file_name);
		*debuginfo_file_name = NULL;
		return -1;
	}
	return copy;
}

/* One SystemTap SDT note (type 3, owner "stapsdt"): three addresses (pc,
 * base, semaphore), then provider, name and argument strings. */
static bool sdt_note_is(const uint8_t *desc, size_t len, const char *provider,
			const char *name)
{
	size_t off = 3 * sizeof(uint64_t), pl, nl;

	if (len <= off)
		return false;
	pl = strnlen((const char *)desc + off, len - off);
	if (off + pl >= len || strcmp((const char *)desc + off, provider))
		return false;
	off += pl + 1;
	nl = strnlen((const char *)desc + off, len - off);
	return off + nl < len && strcmp((const char *)desc + off, name) == 0;
}

int elfinfo__usdt_count(const char *path, const char *provider,
			const char *name)
{
	size_t shstrndx;
	Elf_Scn *scn;
	int fd, err, n = 0;
	Elf *elf;

	if (!path || !provider || !name)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;
	if (elf_getshdrstrndx(elf, &shstrndx)) {
		n = -EINVAL;
		goto cleanup;
	}
	/* .note.stapsdt is not allocated: it is found by section only */
	for (scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
		size_t off = 0, name_off, desc_off;
		const char *sname;
		Elf_Data *data;
		GElf_Shdr sh;
		GElf_Nhdr nh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		sname = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sname || strcmp(sname, ".note.stapsdt"))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		while ((off = gelf_getnote(data, off, &nh, &name_off,
					   &desc_off)) > 0) {
			if (nh.n_type != 3 || nh.n_namesz != 8 ||
			    memcmp((const char *)data->d_buf + name_off,
				   "stapsdt", 8))
				continue;
			if (sdt_note_is((const uint8_t *)data->d_buf + desc_off,
					nh.n_descsz, provider, name))
				n++;
		}
	}
cleanup:
	elf_close(fd, elf);
	return n;
}
