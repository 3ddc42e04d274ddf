/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symdb.h - the session's symbol database: every distinct ELF file (keyed
 * by the GNU build ID it claims together with the file's identity: device,
 * inode and size) is opened and its DWARF parsed once, whatever number of
 * processes map it, and each of its addresses is symbolized once.
 */
#ifndef MEMTEL_SYMDB_H
#define MEMTEL_SYMDB_H

#include <stdbool.h>
#include <stdint.h>

#include "symbolize/symbolize.h"

struct symdb;

struct symdb *symdb__new(void);
void symdb__free(struct symdb *db);
/* What a file is known by: a build ID alone can be forged. */
struct symdb_ident {
	const char *build_id;	/* lowercase hex, "" if none */
	uint64_t dev, ino, size;	/* of the original file */
};

/* Id (>= 1) of the file with this identity, 0 if not registered. */
uint32_t symdb__find(const struct symdb *db, const struct symdb_ident *id);
/* Id (>= 1) of the file, registering it on first sight: fd is a private
 * copy of its bytes (elfinfo__copy; dup'ed, the caller keeps fd),
 * file_name the path it was reached by (for debuglink lookups next to it),
 * display its path as the target sees it, debuginfo_path libdwfl's search
 * path for its separate debug file. 0 if it cannot be opened. */
uint32_t symdb__file(struct symdb *db, const struct symdb_ident *id, int fd,
		     const char *file_name, const char *display,
		     const char *debuginfo_path);
/* Display path and build ID ("" if none) of a file id. */
const char *symdb__path(const struct symdb *db, uint32_t file);
const char *symdb__build_id(const struct symdb *db, uint32_t file);
/* OpenTelemetry htlhash file id (32 hex digits, "" if unreadable). */
const char *symdb__htlhash(const struct symdb *db, uint32_t file);
/* Frames at ELF virtual address vaddr of file (vaddr - 1 is looked up for
 * a return address); cached. Never NULL; module fields are not set. */
const struct sym_result *symdb__lookup(struct symdb *db, uint32_t file,
				       uint64_t vaddr, bool is_return);
/* Files registered so far (for tests and stats). */
uint32_t symdb__files(const struct symdb *db);

#endif /* MEMTEL_SYMDB_H */
