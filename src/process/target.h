/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * target.h - one profiled process as elfutils sees it: its memory map and a
 * libdwfl session with one module per mapped ELF file, opened the way the
 * target sees it (/proc/PID/map_files, /proc/PID/root). Shared by the
 * unwinder and the symbolizer; files stay open, so symbolization still works
 * after the process has exited.
 */
#ifndef MEMTEL_TARGET_H
#define MEMTEL_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <elfutils/libdwfl.h>

struct target;

/* Open pid and report its modules (each from a private copy of its file,
 * elfinfo__copy). NULL with errno set on failure. */
struct target *target__open(pid_t pid);
void target__close(struct target *t);
/* Re-read the memory map (new dlopen'ed libraries); keeps known modules.
 * Unless force, at most once per 100 ms after the first two (a process
 * opened during its start may have mapped no library yet). 0 or -errno. */
int target__refresh(struct target *t, bool force);
pid_t target__pid(const struct target *t);
Dwfl *target__dwfl(struct target *t);
/* True if pc lies in a reported module. */
bool target__covers(struct target *t, uint64_t pc);
/* Executable's path as the target sees it ("" if unknown). */
const char *target__exe(const struct target *t);

struct sym_result;

/* A module's file as symbolizers need it; owned by the target, valid
 * until target__close. */
struct target_module {
	const char *display;	/* path as the target sees it */
	const char *file_name;	/* how we reached it (/proc/PID/...) */
	const char *build_id;	/* lowercase hex, "" if none */
	const char *debuginfo_path;	/* libdwfl search path for it */
	uint64_t dev, ino, size;	/* identity of the original file */
};

/* A new fd (the caller closes it) on the private copy (elfinfo__copy) of
 * m's file, made when the module was reported: valid after the process
 * exited. -errno on failure. */
int target__module_copy(const struct target_module *m);

struct target_loc {
	const struct target_module *mod;
	uint64_t vaddr;		/* pc as an ELF virtual address of the file */
	uint64_t mod_start, mod_end;	/* the module in this process */
};

/* Where pc of this process lies: its module and ELF address. 0, or
 * -ENOENT if no module covers pc. */
int target__locate(struct target *t, uint64_t pc, struct target_loc *out);
/* Name addr from the target's /tmp/perf-PID.map (JIT code), if any; out
 * is left empty when nothing covers it. 0 or -ENOMEM. */
int target__jit_symbol(struct target *t, uint64_t addr,
		       struct sym_result *out);

/* Opaque per-call context the unwinder hangs on the target. */
void target__set_unwind_ctx(struct target *t, void *ctx);
void *target__unwind_ctx(const struct target *t);
bool target__unwind_attached(const struct target *t);
void target__set_unwind_attached(struct target *t);

#endif /* MEMTEL_TARGET_H */
