// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * selector.c - heap-target selectors: parsing `KIND=VALUE`, reading the
 * few facts of a process they compare (each read bounded: /proc/PID/exe
 * through readlink into a fixed buffer, comm through fileio, the cgroup
 * through process/cgroup.c) and matching. A value is checked against what
 * its kind can hold when it is parsed, so that a typo is a usage error
 * rather than a selector that silently never matches.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "process/selector.h"
#include "util/fileio.h"

static const struct {
	const char *key;
	enum selector_kind kind;
	size_t max;
} kinds[] = {
	{ "exe", SEL_EXE, PATH_MAX - 1 },
	{ "comm", SEL_COMM, SELECTOR_COMM_LEN },
	{ "container", SEL_CONTAINER, CGROUP_ID_LEN },
	{ "pod", SEL_POD, CGROUP_UID_LEN },
	{ "cgroup", SEL_CGROUP, CGROUP_PATH_MAX },
};

#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static int bad(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool all_of(const char *s, size_t n, const char *set)
{
	return strspn(s, set) == n;
}

int selector__parse(const char *text, struct selector *out, char *err,
		    size_t errlen)
{
	const char *eq = text ? strchr(text, '=') : NULL;
	size_t klen, vlen, i;
	char key[16];

	if (!eq)
		return bad(err, errlen,
			   "invalid heap target '%.64s': want KIND=VALUE (exe=, comm=, container=, pod=, cgroup=)",
			   text ? text : "");
	klen = (size_t)(eq - text);
	snprintf(key, sizeof(key), "%.*s", (int)(klen < 15 ? klen : 15), text);
	for (i = 0; i < N_KINDS; i++)
		if (klen == strlen(kinds[i].key) &&
		    !strncmp(text, kinds[i].key, klen))
			break;
	if (i == N_KINDS)
		return bad(err, errlen,
			   "unknown heap target kind '%s' (want exe, comm, container, pod or cgroup)",
			   key);
	vlen = strlen(eq + 1);
	if (!vlen)
		return bad(err, errlen, "empty heap target value for %s=",
			   key);
	if (vlen > kinds[i].max)
		return bad(err, errlen,
			   "heap target %s= value too long (at most %zu bytes)",
			   key, kinds[i].max);
	memset(out, 0, sizeof(*out));
	out->kind = kinds[i].kind;
	memcpy(out->value, eq + 1, vlen);
	out->len = vlen;
	switch (out->kind) {
	case SEL_EXE:
	case SEL_CGROUP:
		if (out->value[0] != '/')
			return bad(err, errlen,
				   "heap target %s= wants an absolute path",
				   key);
		/* "/a/b/" matches below /a/b: the same as "/a/b" */
		while (out->kind == SEL_CGROUP && out->len > 1 &&
		       out->value[out->len - 1] == '/')
			out->value[--out->len] = '\0';
		break;
	case SEL_COMM:
		break;
	case SEL_CONTAINER:
		if (!all_of(out->value, vlen, "0123456789abcdef"))
			return bad(err, errlen,
				   "heap target %s= wants lowercase hex digits (a container id or its prefix)",
				   key);
		break;
	case SEL_POD:
		/* the systemd driver's underscores name the same uid */
		for (i = 0; i < vlen; i++)
			if (out->value[i] == '_')
				out->value[i] = '-';
		if (!all_of(out->value, vlen, "0123456789abcdef-"))
			return bad(err, errlen,
				   "heap target %s= wants a pod uid (lowercase hex and dashes)",
				   key);
		break;
	}
	/* a control character never names a process: a pasting accident */
	for (i = 0; i < out->len; i++)
		if (iscntrl((unsigned char)out->value[i]))
			return bad(err, errlen,
				   "heap target %s= value has a control character",
				   key);
	return 0;
}

int selector_set__add(struct selector_set *s, const char *text, char *err,
		      size_t errlen)
{
	int rc;

	if (s->n >= SELECTOR_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "too many heap targets (at most %d)",
				 SELECTOR_MAX);
		return -E2BIG;
	}
	rc = selector__parse(text, &s->sel[s->n], err, errlen);
	if (!rc)
		s->n++;
	return rc;
}

unsigned int selector_set__needs(const struct selector_set *s)
{
	unsigned int needs = 0;
	size_t i;

	for (i = 0; i < s->n; i++) {
		switch (s->sel[i].kind) {
		case SEL_EXE:
			needs |= SEL_NEED_EXE;
			break;
		case SEL_COMM:
			needs |= SEL_NEED_COMM;
			break;
		default:
			needs |= SEL_NEED_CGROUP;
		}
	}
	return needs;
}

int selector__read_facts(pid_t pid, unsigned int needs,
			 struct selector_facts *f)
{
	char path[64], *text = NULL;
	size_t len = 0;
	ssize_t n;
	int err;

	memset(f, 0, sizeof(*f));
	if (needs & SEL_NEED_COMM) {
		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		err = fileio__read_text(path, 0, 64, &text, &len);
		if (err == -ESRCH || err == -ENOENT) {
			free(text);
			return -ESRCH;
		}
		if (!err) {
			while (len && text[len - 1] == '\n')
				len--;
			if (len > SELECTOR_COMM_LEN)
				len = SELECTOR_COMM_LEN;
			memcpy(f->comm, text, len);
			f->comm[len] = '\0';
		}
		free(text);
	}
	if (needs & SEL_NEED_EXE) {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
		n = readlink(path, f->exe, sizeof(f->exe) - 1);
		if (n < 0 && errno == ENOENT) {
			/* a kernel thread has no exe; a gone process no dir */
			snprintf(path, sizeof(path), "/proc/%d", (int)pid);
			if (access(path, F_OK))
				return -ESRCH;
		}
		/* a cut-off link is no path to compare */
		f->exe[n > 0 && (size_t)n < sizeof(f->exe) - 1 ? n : 0] = '\0';
	}
	if (needs & SEL_NEED_CGROUP) {
		err = cgroup__read_path(pid, f->cgroup, sizeof(f->cgroup));
		if (err == -ESRCH)
			return -ESRCH;
		if (err)
			f->cgroup[0] = '\0';
		else
			cgroup__parse_path(f->cgroup, &f->ids);
	}
	return 0;
}

bool selector__match(const struct selector *sel, const struct selector_facts *f)
{
	switch (sel->kind) {
	case SEL_EXE:
		return f->exe[0] && !strcmp(f->exe, sel->value);
	case SEL_COMM:
		return f->comm[0] && !strcmp(f->comm, sel->value);
	case SEL_CONTAINER:
		return f->ids.container_id[0] &&
		       !strncmp(f->ids.container_id, sel->value, sel->len);
	case SEL_POD:
		return f->ids.pod_uid[0] && !strcmp(f->ids.pod_uid, sel->value);
	case SEL_CGROUP:
		if (!f->cgroup[0] || strncmp(f->cgroup, sel->value, sel->len))
			return false;
		/* "/a/b" is under "/a" but not under "/a/bc"; "/" holds all */
		return sel->len == 1 || f->cgroup[sel->len] == '\0' ||
		       f->cgroup[sel->len] == '/';
	}
	return false;
}

int selector_set__match(const struct selector_set *s,
			const struct selector_facts *f)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (selector__match(&s->sel[i], f))
			return (int)i;
	return -1;
}

const char *selector__format(const struct selector *sel, char *buf,
			     size_t len)
{
	size_t i;

	for (i = 0; i < N_KINDS && kinds[i].kind != sel->kind; i++)
		;
	snprintf(buf, len, "%s=%s", i < N_KINDS ? kinds[i].key : "?",
		 sel->value);
	return buf;
}
