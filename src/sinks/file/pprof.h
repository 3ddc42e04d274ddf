/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pprof.h - build a pprof Profile (profile.proto) and write it gzipped.
 * Strings, functions, locations and mappings are interned in the shared
 * profile dictionary: adding the same one twice returns the same id. Ids
 * are 1-based as pprof requires.
 */
#ifndef MEMTEL_PPROF_H
#define MEMTEL_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "sinks/profile/profdict.h"

struct pprof_builder;

struct pprof_line {
	const char *function;	 /* demangled name, or NULL for unknown */
	const char *system_name; /* raw (mangled) name, may be NULL */
	const char *filename;	 /* source file, may be NULL */
	int64_t line;		 /* 0 if unknown */
	int64_t start_line;	 /* function's first line, 0 if unknown */
};

struct pprof_label {
	const char *key;
	const char *str;	/* string label, or NULL for a numeric one */
	int64_t num;
	const char *num_unit;	/* may be NULL */
};

/* New empty profile; NULL with errno set on failure. */
struct pprof_builder *pprof_builder__new(void);
void pprof_builder__free(struct pprof_builder *b);

/* The builder's dictionary, for the stack translator
 * (sinks/profile/profstack.h): its location indices are pprof location ids. */
struct profdict *pprof_builder__dict(struct pprof_builder *b);

/* Append a sample type (values of every sample follow this order). */
int pprof_builder__add_sample_type(struct pprof_builder *b, const char *type,
				   const char *unit);
void pprof_builder__set_period(struct pprof_builder *b, const char *type,
			       const char *unit, int64_t period);
void pprof_builder__set_time(struct pprof_builder *b, int64_t time_nanos,
			     int64_t duration_nanos);
/* Index into the sample types of the default one shown by pprof tools. */
int pprof_builder__set_default_sample_type(struct pprof_builder *b,
					   const char *type);
int pprof_builder__add_comment(struct pprof_builder *b, const char *comment);

/* Mapping [start, limit) of file at file offset; build_id as hex string or
 * NULL. Returns the mapping id (>0), or 0 on allocation failure. */
uint64_t pprof_builder__add_mapping(struct pprof_builder *b, uint64_t start,
				    uint64_t limit, uint64_t offset,
				    const char *filename, const char *build_id,
				    int has_functions, int has_filenames,
				    int has_line_numbers);

/* Location at address in mapping (0 = none) with n_lines lines, innermost
 * (inlined) first as pprof orders them. Interned on (mapping_id, address).
 * Returns the location id (>0), or 0 on failure. */
uint64_t pprof_builder__add_location(struct pprof_builder *b,
				     uint64_t mapping_id, uint64_t address,
				     const struct pprof_line *lines,
				     size_t n_lines);

/* A sample: location ids leaf first, one value per sample type. */
int pprof_builder__add_sample(struct pprof_builder *b,
			      const uint64_t *location_ids, size_t n_locations,
			      const int64_t *values, size_t n_values,
			      const struct pprof_label *labels, size_t n_labels);

/* Serialize, gzip and write to path (atomically, util/fileio.h outfile).
 * 0 or -errno. */
int pprof_builder__write_gz(struct pprof_builder *b, const char *path);

/* Serialize (not gzipped) into a malloc'ed buffer; 0 or -errno. */
int pprof_builder__serialize(struct pprof_builder *b, uint8_t **buf,
			     size_t *len);

#endif /* MEMTEL_PPROF_H */
