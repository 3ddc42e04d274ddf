/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * elfinfo.h - the few ELF facts the loader needs before symbolization:
 * where a function lives in the file (for uprobes, which take file offsets),
 * its first bytes (for probe placement), and the GNU build ID.
 */
#ifndef MEMTEL_ELFINFO_H
#define MEMTEL_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <elfutils/libdwfl.h>

struct elf_func {
	uint64_t vaddr;		/* st_value */
	uint64_t file_offset;	/* offset of the first byte in the file */
	uint64_t size;		/* st_size, 0 if unknown */
};

/* Find a defined STT_FUNC/STT_GNU_IFUNC symbol `name` in .dynsym, then
 * .symtab (versioned names like malloc@@GLIBC_2.2.5 match `name`).
 * 0, -ENOENT if absent, or another -errno. */
int elfinfo__find_func(const char *path, const char *name, struct elf_func *out);

/* Link-time address of a defined data object `name` (.symtab or
 * .dynsym). 0, -ENOENT if absent, or another -errno. */
int elfinfo__find_object(const char *path, const char *name, uint64_t *vaddr);

/* A section's place (sh_addr, sh_offset, sh_size). */
struct elf_section {
	uint64_t vaddr;
	uint64_t offset;
	uint64_t size;
};

/* The section called name (".text", ".plt", ...). 0, -ENOENT, -errno. */
int elfinfo__section(const char *path, const char *name,
		     struct elf_section *out);

/* Link-time address of the GOT slot the dynamic linker fills with the
 * address of symbol `name` (an R_X86_64_JUMP_SLOT or GLOB_DAT
 * relocation): calls to an exported function from its own library go
 * through it. 0, -ENOENT, or -errno. */
int elfinfo__got_slot(const char *path, const char *name, uint64_t *vaddr);

/* Read up to len bytes of the file at offset into buf; returns bytes read
 * or -errno. */
long elfinfo__read_bytes(const char *path, uint64_t offset, uint8_t *buf,
			 size_t len);

/* GNU build ID as lowercase hex into hex (>= 2*20+1 bytes for SHA1; 129 is
 * always enough). 0, -ENOENT if there is none, or -errno. */
int elfinfo__build_id(const char *path, char *hex, size_t len);

/* True if the ELF at path is a statically linked executable (no PT_INTERP
 * and no PT_DYNAMIC). */
bool elfinfo__is_static(const char *path);

/* Open a file of a target read-only the one safe way (util/fileio.h:
 * regular files only, non-blocking; the last component followed only for
 * /proc/PID/map_files links). st gets its fstat if not NULL. fd or -errno. */
int elfinfo__open(const char *path, struct stat *st);

/* Largest file elfinfo__copy takes (debug files of big C++ programs reach
 * a few hundred MiB). */
#define ELFINFO_COPY_MAX (512ULL << 20)

/* A private, sealed in-memory copy (memfd) of the ELF file open as fd,
 * safe to mmap: the target cannot truncate it. st: fd's fstat, or NULL.
 * Copies of the same file (st_dev, st_ino, size, mtime) share pages.
 * Returns a new fd (the caller closes it) or -errno (-EFBIG past
 * ELFINFO_COPY_MAX). */
int elfinfo__copy_fd(int fd, const struct stat *st);
/* elfinfo__open + elfinfo__copy_fd; st gets the original's fstat. */
int elfinfo__copy(const char *path, struct stat *st);
/* Dwfl_Callbacks.find_debuginfo: dwfl_standard_find_debuginfo's search,
 * but the file found is handed to libdwfl as a private copy, so a debug
 * file the target controls is never mapped either. */
int elfinfo__find_debuginfo(Dwfl_Module *mod, void **userdata,
			    const char *modname, Dwarf_Addr base,
			    const char *file_name, const char *debuglink_file,
			    GElf_Word debuglink_crc, char **debuginfo_file_name);
/* Close the cached copies (tests, end of session). */
void elfinfo__copies_drop(void);

/* Number of USDT probe sites provider:name in the file's .note.stapsdt
 * (0 if none), or -errno. */
int elfinfo__usdt_count(const char *path, const char *provider,
			const char *name);

#endif /* MEMTEL_ELFINFO_H */
