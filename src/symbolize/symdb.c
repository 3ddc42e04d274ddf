// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symdb.c - one libdwfl session per distinct ELF file, reported at bias 0
 * so its addresses are the file's own virtual addresses, and a cache of
 * symbolized addresses per file. Processes translate a pc to (file, vaddr)
 * with their own module map (target.c) and meet here.
 *
 * A file is known by its build ID *and* the identity of the file (device,
 * inode, size): a build ID is only a claim the file makes about itself, and
 * a process that forged another binary's build ID must not rename that
 * binary's functions for every other process. Keyed by identity, a binary
 * without a build ID is one entry however many processes run it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <openssl/evp.h>

#include "process/elfinfo.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/table.h"
#include "symbolize/symdb.h"
#include "util/u64map.h"

struct symdb_file {
	char build_id_key[129];	/* the build ID the file claims, "" if none */
	uint64_t dev, ino, size;
	char *display;
	char *debuginfo_path;
	char build_id[129];
	char htlhash[33];
	Dwfl_Callbacks cbs;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	struct sym_index *syms;	/* mod's symbols by address, or NULL */
	struct u64map cache;	/* vaddr << 1 | is_return -> result * */
};

struct symdb {
	struct symdb_file **files;	/* files[0] unused */
	uint32_t n, cap;
	struct table by_ident;	/* (build ID, dev, ino, size) -> id */
	struct sym_result empty;
};

struct symdb *symdb__new(void)
{
	struct symdb *db;

	/* libdwfl asks debuginfod servers (libdebuginfod reads
	 * DEBUGINFOD_URLS at each query) for every file without local debug
	 * info: from our main loop, with a 90 s default timeout, sending the
	 * build IDs of every binary, including ones a hostile process chose.
	 * The profiler never does that unasked. */
	unsetenv("DEBUGINFOD_URLS");
	db = calloc(1, sizeof(*db));

	if (!db)
		return NULL;
	db->empty.build_id = "";
	db->n = 1;
	return db;
}

static void file_free(struct symdb_file *f)
{
	uint64_t k, v;
	size_t it = 0;

	if (!f)
		return;
	while (u64map__next(&f->cache, &it, &k, &v)) {
		sym_result__clear((struct sym_result *)(uintptr_t)v);
		free((void *)(uintptr_t)v);
	}
	u64map__free(&f->cache);
	sym_index__free(f->syms);
	if (f->dwfl)
		dwfl_end(f->dwfl);
	free(f->display);
	free(f->debuginfo_path);
	free(f);
}

void symdb__free(struct symdb *db)
{
	uint32_t i;

	if (!db)
		return;
	for (i = 1; i < db->n; i++)
		file_free(db->files[i]);
	free(db->files);
	table__free(&db->by_ident);
	free(db);
}

/* OpenTelemetry's process.executable.build_id.htlhash: the first 16 bytes
 * of SHA-256(first 4096 bytes || last 4096 bytes || big-endian u64 length),
 * in hex (profiles "Mappings" spec). A file identity that survives
 * stripped build IDs. */
static void htlhash(int fd, char out[33])
{
	unsigned char head[4096], tail[4096], len_be[8], md[EVP_MAX_MD_SIZE];
	ssize_t nh, nt = 0;
	unsigned int mdlen = 0;
	struct stat st;
	off_t toff;
	int i;

	out[0] = '\0';
	if (fstat(fd, &st) || st.st_size < 0)
		return;
	nh = pread(fd, head, sizeof(head), 0);
	toff = st.st_size > (off_t)sizeof(tail) ? st.st_size - (off_t)sizeof(tail)
						: 0;
	nt = pread(fd, tail, sizeof(tail), toff);
	if (nh < 0 || nt < 0)
		return;
	for (i = 0; i < 8; i++)
		len_be[i] = (unsigned char)((uint64_t)st.st_size >> (56 - 8 * i));
	{
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		if (!ctx)
			return;
		if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, head, (size_t)nh) == 1 &&
		    EVP_DigestUpdate(ctx, tail, (size_t)nt) == 1 &&
		    EVP_DigestUpdate(ctx, len_be, sizeof(len_be)) == 1 &&
		    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= 16) {
			for (i = 0; i < 16; i++)
				snprintf(out + 2 * i, 3, "%02x", md[i]);
		}
		EVP_MD_CTX_free(ctx);
	}
}

struct ident_key {
	const struct symdb *db;
	const struct symdb_ident *id;
};

static uint64_t ident_hash(const struct symdb_ident *id)
{
	uint64_t h = hash__str(HASH_SEED, id->build_id ? id->build_id : "");

	h = hash__u64(h, id->dev);
	h = hash__u64(h, id->ino);
	return hash__u64(h, id->size);
}

static bool ident_eq(const void *ctx, size_t idx)
{
	const struct ident_key *k = ctx;
	const struct symdb_file *f = k->db->files[idx];

	return f->dev == k->id->dev && f->ino == k->id->ino &&
	       f->size == k->id->size &&
	       !strcmp(f->build_id_key, k->id->build_id ? k->id->build_id : "");
}

uint32_t symdb__find(const struct symdb *db, const struct symdb_ident *id)
{
	struct ident_key k = { db, id };
	int64_t i = table__find(&db->by_ident, ident_hash(id), ident_eq, &k);

	return i > 0 ? (uint32_t)i : 0;
}

uint32_t symdb__file(struct symdb *db, const struct symdb_ident *ident,
		     int fd, const char *file_name, const char *display,
		     const char *debuginfo_path)
{
	const unsigned char *bits;
	struct symdb_file *f;
	GElf_Addr vaddr;
	uint32_t id;
	int n, i, own;

	id = symdb__find(db, ident);
	if (id)
		return id;
	if (!ident->build_id ||
	    strlen(ident->build_id) >= sizeof(f->build_id_key))
		return 0;
	if (db->n >= db->cap) {
		uint32_t cap = db->cap ? db->cap * 2 : 64;
		struct symdb_file **nf = realloc(db->files, cap * sizeof(*nf));

		if (!nf)
			return 0;
		db->files = nf;
		db->cap = cap;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return 0;
	strcpy(f->build_id_key, ident->build_id);
	f->dev = ident->dev;
	f->ino = ident->ino;
	f->size = ident->size;
	f->display = strdup(display);
	f->debuginfo_path = strdup(debuginfo_path ? debuginfo_path : "");
	if (!f->display || !f->debuginfo_path)
		goto fail;
	f->cbs.find_elf = dwfl_build_id_find_elf;
	f->cbs.find_debuginfo = elfinfo__find_debuginfo;
	f->cbs.section_address = dwfl_offline_section_address;
	f->cbs.debuginfo_path = &f->debuginfo_path;
	f->dwfl = dwfl_begin(&f->cbs);
	if (!f->dwfl)
		goto fail;
	/* our own handle on the caller's private copy; the module owns it */
	own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		goto fail;
	dwfl_report_begin(f->dwfl);
	f->mod = dwfl_report_elf(f->dwfl, display, file_name, own, 0, true);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (!f->mod) {
		mt_debug("symbols: cannot open %s: %s", display, dwfl_errmsg(-1));
		close(own);
		goto fail;
	}
	/* find and load the debug info now: the paths that lead to it
	 * (/proc/PID/root, a debuglink next to the binary) may be gone by the
	 * time the first address is symbolized */
	{
		Dwarf_Addr bias;

		(void)dwfl_module_getdwarf(f->mod, &bias);
		/* NULL for a file without symbols: names then come from
		 * libdwfl, which has none either */
		f->syms = sym_index__new(f->mod);
	}
	n = dwfl_module_build_id(f->mod, &bits, &vaddr);
	for (i = 0; i < n && 2 * i + 2 < (int)sizeof(f->build_id); i++) {
		static const char hex[] = "0123456789abcdef";

		f->build_id[2 * i] = hex[bits[i] >> 4];
		f->build_id[2 * i + 1] = hex[bits[i] & 15];
	}
	htlhash(fd, f->htlhash);
	if (table__add(&db->by_ident, ident_hash(ident), db->n))
		goto fail;
	db->files[db->n] = f;
	return db->n++;
fail:
	file_free(f);
	return 0;
}

const char *symdb__path(const struct symdb *db, uint32_t file)
{
	return file && file < db->n ? db->files[file]->display : NULL;
}

const char *symdb__build_id(const struct symdb *db, uint32_t file)
{
	return file && file < db->n ? db->files[file]->build_id : "";
}

const char *symdb__htlhash(const struct symdb *db, uint32_t file)
{
	return file && file < db->n ? db->files[file]->htlhash : "";
}

uint32_t symdb__files(const struct symdb *db)
{
	return db->n - 1;
}

const struct sym_result *symdb__lookup(struct symdb *db, uint32_t file,
				       uint64_t vaddr, bool is_return)
{
	uint64_t key = vaddr << 1 | is_return, *hit;
	struct symdb_file *f;
	struct sym_result *r;

	if (!file || file >= db->n)
		return &db->empty;
	f = db->files[file];
	hit = u64map__get(&f->cache, key);
	if (hit)
		return (struct sym_result *)(uintptr_t)*hit;
	r = calloc(1, sizeof(*r));
	if (!r)
		return &db->empty;
	if (symbolize__module_addr(f->mod, f->syms, is_return && vaddr ? vaddr - 1
							    : vaddr, r) ||
	    u64map__set(&f->cache, key, (uintptr_t)r)) {
		sym_result__clear(r);
		free(r);
		return &db->empty;
	}
	return r;
}
