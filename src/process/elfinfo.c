// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * elfinfo.c - the few ELF facts the loader needs before symbolization, read
 * with elfutils' libelf: a function's file offset (uprobes attach by file
 * offset, not address), raw bytes at an offset (for probe placement), the
 * GNU build ID, and whether an executable carries all its code itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process/elfinfo.h"

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

/* Open path and start libelf on it; *fd and *elf are set on success. */
static int elf_open(const char *path, int *fd, Elf **elf)
{
	int err;

	pthread_once(&elf_once, elf_init_once);
	if (!elf_ok)
		return -ENOTSUP;

	*elf = NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;

	*elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
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

/* Best defined function named `name` in symbol table section scn. */
static int find_in_symtab(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh,
			  Elf_Data *versym, const char *name, GElf_Sym *best)
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
		if (type != STT_FUNC && type != STT_GNU_IFUNC)
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

int elfinfo__find_func(const char *path, const char *name, struct elf_func *out)
{
	static const GElf_Word order[] = { SHT_DYNSYM, SHT_SYMTAB };
	Elf_Data *versym = NULL;
	Elf_Scn *scn;
	GElf_Sym sym;
	size_t i, nph;
	int fd, err, found = 0;
	Elf *elf;

	if (!path || !name || !*name || !out)
		return -EINVAL;
	err = elf_open(path, &fd, &elf);
	if (err)
		return err;

	/* .gnu.version tells default from hidden versions in .dynsym. */
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
					       name, &sym);
			if (found)
				break;
		}
	}
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

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
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
