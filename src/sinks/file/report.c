// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * report.c - the pprof and flame-graph plumbing the heap and CPU reports
 * share (see report.h).
 */
#include <errno.h>
#include <string.h>

#include "sinks/file/report.h"
#include "sinks/profile/profstack.h"

/* One comment per line of notes. 0 or -ENOMEM. */
static int add_notes(struct pprof_builder *b, const char *notes)
{
	char line[512];
	const char *nl;
	size_t len;

	while (notes && *notes) {
		nl = strchrnul(notes, '\n');
		len = (size_t)(nl - notes);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, notes, len);
		line[len] = '\0';
		if (len && pprof_builder__add_comment(b, line))
			return -ENOMEM;
		notes = *nl ? nl + 1 : nl;
	}
	return 0;
}

int report_profile__open(struct report_profile *p,
			 const struct report_profile_spec *spec,
			 struct stacks *stacks, struct symcache *syms)
{
	size_t i;
	int err = -ENOMEM;

	memset(p, 0, sizeof(*p));
	p->stacks = stacks;
	p->n_types = spec->n_types;
	p->b = pprof_builder__new();
	if (!p->b)
		goto cleanup;
	p->ps = profstack__new(pprof_builder__dict(p->b), syms);
	if (!p->ps)
		goto cleanup;
	for (i = 0; i < spec->n_types; i++)
		if (pprof_builder__add_sample_type(p->b, spec->types[i][0],
						   spec->types[i][1]))
			goto cleanup;
	pprof_builder__set_period(p->b, spec->period_type, spec->period_unit,
				  spec->period);
	pprof_builder__set_time(p->b, spec->time_nanos, spec->duration_nanos);
	pprof_builder__set_default_sample_type(p->b, spec->default_type);
	pprof_builder__add_comment(p->b, spec->comment);
	err = add_notes(p->b, spec->notes);
	if (err)
		goto cleanup;
	return 0;
cleanup:
	report_profile__close(p);
	return err;
}

int report_profile__add(struct report_profile *p, uint32_t stack_id,
			const int64_t *vals, const struct pprof_label *labels,
			size_t n_labels)
{
	uint64_t ids[REPORT_MAX_FRAMES];
	struct stack_view v;
	size_t n;

	if (!stacks__get(p->stacks, stack_id, &v))
		return 0;
	n = profstack__locations(p->ps, &v, ids, REPORT_MAX_FRAMES);
	return pprof_builder__add_sample(p->b, ids, n, vals, p->n_types,
					 labels, n_labels);
}

int report_profile__write(struct report_profile *p, const char *path)
{
	return pprof_builder__write_gz(p->b, path);
}

void report_profile__close(struct report_profile *p)
{
	if (!p)
		return;
	profstack__free(p->ps);
	pprof_builder__free(p->b);
	p->ps = NULL;
	p->b = NULL;
}

int report__flame_add(struct flamegraph *fg, struct stacks *stacks,
		      struct symcache *syms, uint32_t stack_id, uint64_t value)
{
	const char *names[REPORT_MAX_FRAMES];
	struct stack_view v;
	char buf[8192];		/* kernel and unknown frames' names */
	size_t n;

	if (!stacks__get(stacks, stack_id, &v))
		return 0;
	n = profstack__names(syms, &v, names, REPORT_MAX_FRAMES, buf,
			    sizeof(buf));
	return flamegraph__add(fg, names, n, value);
}
