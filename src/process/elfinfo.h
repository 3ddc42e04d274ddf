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

struct elf_func {
	uint64_t vaddr;		/* st_value */
	uint64_t file_offset;	/* offset of the first byte in the file */
	uint64_t size;		/* st_size, 0 if unknown */
};

/* Find a defined STT_FUNC/STT_GNU_IFUNC symbol `name` in .dynsym, then
 * .symtab (versioned names like malloc@@GLIBC_2.2.5 match `name`).
 * 0, -ENOENT if absent, or another -errno. */
int elfinfo__find_func(const char *path, const char *name, struct elf_func *out);

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

/* Number of USDT probe sites provider:name in the file's .note.stapsdt
 * (0 if none), or -errno. */
int elfinfo__usdt_count(const char *path, const char *provider,
			const char *name);

#endif /* MEMTEL_ELFINFO_H */
