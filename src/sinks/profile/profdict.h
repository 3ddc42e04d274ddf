/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * profdict.h - the one profile dictionary both profile encoders use (pprof
 * files and OTLP profiles): strings, functions, mappings, locations and
 * stacks, each interned once and compared in full (util/table.h). Indices
 * are dense; entry 0 of every table is the zero value and index 0 means
 * "none", which is OTLP's dictionary rule and, for everything but strings,
 * pprof's 1-based ids as they are. Strings a target chose are made valid
 * UTF-8 on the way in (protobuf string fields must be).
 */
#ifndef MEMTEL_PROFDICT_H
#define MEMTEL_PROFDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/table.h"

enum pd_frame {
	PD_FRAME_NATIVE = 0,
	PD_FRAME_KERNEL = 1,
};

struct pd_function {
	uint32_t name, system_name, filename;	/* string indices */
	int64_t start_line;
};

struct pd_mapping {
	uint64_t start, limit, offset;
	uint32_t filename, build_id, htlhash;	/* string indices */
	bool has_functions, has_filenames, has_line_numbers;
};

struct pd_line {
	uint32_t function;
	int64_t line;
};

struct pd_location {
	uint32_t mapping;
	uint64_t address;
	size_t line_off;	/* into profdict.lines */
	uint32_t n_lines;
	enum pd_frame frame;
	bool is_return;		/* symbolized as a return address (pc - 1) */
};

struct pd_stack {
	size_t loc_off;		/* into profdict.stack_locs */
	uint32_t n_locs;
};

struct profdict {
	char **strs;
	size_t n_strs, cap_strs;
	struct table str_t;
	struct pd_function *funcs;
	size_t n_funcs, cap_funcs;
	struct table func_t;
	struct pd_mapping *maps;
	size_t n_maps, cap_maps;
	struct table map_t;
	struct pd_location *locs;
	size_t n_locs, cap_locs;
	struct table loc_t;
	struct pd_line *lines;
	size_t n_lines, cap_lines;
	struct pd_stack *stacks;
	size_t n_stacks, cap_stacks;
	struct table stack_t;
	uint64_t *stack_locs;
	size_t n_stack_locs, cap_stack_locs;
	int err;	/* first allocation failure, or 0 */
};

/* What a line of a location names; NULL means unknown. */
struct pd_line_in {
	const char *function;	 /* demangled name */
	const char *system_name; /* raw (mangled) name */
	const char *filename;
	int64_t line, start_line;
};

/* Set up an empty dictionary (every table holds its zero entry). 0 or
 * -ENOMEM. */
int profdict__init(struct profdict *d);
void profdict__free(struct profdict *d);
/* The interning calls return an index (> 0), or 0 for "none" (NULL or ""
 * strings) or on failure with errno set: EINVAL for a bad argument (that
 * call only); ENOMEM/E2BIG, which are also kept in d->err. */
uint32_t profdict__str(struct profdict *d, const char *s);
uint32_t profdict__function(struct profdict *d, const struct pd_line_in *l);
/* The symbolization flags are not part of the key: first one wins. */
uint32_t profdict__mapping(struct profdict *d, const struct pd_mapping *m);
/* A location is keyed by (mapping, address, frame, is_return): the same
 * address as a CPU sample's exact pc and as a return address has different
 * lines. At address 0 its lines are part of the key too. Lines naming
 * nothing are left out (viewers then show the address). */
uint32_t profdict__location(struct profdict *d, uint32_t mapping,
			    uint64_t address, enum pd_frame frame,
			    bool is_return, const struct pd_line_in *lines,
			    size_t n_lines);
/* A stack of location indices, leaf first. */
uint32_t profdict__stack(struct profdict *d, const uint64_t *locs, size_t n);

#endif /* MEMTEL_PROFDICT_H */
