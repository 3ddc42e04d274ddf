// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * prom.c - Prometheus text exposition 0.0.4 (prometheus.io/docs/
 * instrumenting/exposition_formats) with the OpenTelemetry Collector's OTLP
 * -> Prometheus naming: the name split into tokens at every character
 * outside [A-Za-z0-9:], the UCUM unit's Prometheus word appended unless a
 * token already is it ("By" -> bytes, "MBy/h" -> megabytes_per_hour,
 * annotations in braces and "1" dropped), monotonic sums get "total" moved
 * to the end, unit-"1" gauges "ratio", tokens joined with '_' and a leading
 * digit prefixed with '_'. Label names: [^A-Za-z0-9_] -> '_', "key_" before
 * a digit, "key" before a single '_'.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/prom/prom.h"
#include "util/utf8.h"

#define NAME_IN_MAX	1024	/* longest OTLP name converted */

struct prom_writer {
	FILE *f;
	char **families;	/* converted names written so far */
	size_t n_families, cap_families;
	char cur[PROM_NAME_MAX];	/* the current family, "" before one */
	enum prom_type cur_type;
};

struct span {
	const char *p;
	size_t n;
};

/* The Collector's unitMap and perUnitMap (UCUM -> Prometheus words). */
static const char *const unit_words[][2] = {
	{ "d", "days" }, { "h", "hours" }, { "min", "minutes" },
	{ "s", "seconds" }, { "ms", "milliseconds" },
	{ "us", "microseconds" }, { "ns", "nanoseconds" },
	{ "By", "bytes" }, { "KiBy", "kibibytes" }, { "MiBy", "mebibytes" },
	{ "GiBy", "gibibytes" }, { "TiBy", "tibibytes" },
	{ "KBy", "kilobytes" }, { "MBy", "megabytes" },
	{ "GBy", "gigabytes" }, { "TBy", "terabytes" },
	{ "m", "meters" }, { "V", "volts" }, { "A", "amperes" },
	{ "J", "joules" }, { "W", "watts" }, { "g", "grams" },
	{ "Cel", "celsius" }, { "Hz", "hertz" }, { "1", "" },
	{ "%", "percent" },
};
static const char *const per_unit_words[][2] = {
	{ "s", "second" }, { "m", "minute" }, { "h", "hour" },
	{ "d", "day" }, { "w", "week" }, { "mo", "month" }, { "y", "year" },
};

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static bool span_eq(struct span a, const char *b, size_t n)
{
	return a.n == n && !memcmp(a.p, b, n);
}

/* Trimmed s[0..n) looked up in a word table; the unit itself if absent. */
static const char *unit_word(const char *s, size_t n, const char *const (*tab)[2],
			     size_t n_tab, char *buf, size_t size)
{
	size_t i, o = 0;

	while (n && *s == ' ')
		s++, n--;
	while (n && s[n - 1] == ' ')
		n--;
	if (!n || memchr(s, '{', n) || memchr(s, '}', n))
		return NULL;
	for (i = 0; i < n_tab; i++)
		if (strlen(tab[i][0]) == n && !memcmp(tab[i][0], s, n)) {
			s = tab[i][1];
			n = strlen(s);
			break;
		}
	/* CleanUpString: runs of non-alphanumerics -> one '_', none at the ends */
	for (i = 0; i < n; i++) {
		if (!is_alnum(s[i]))
			continue;
		if (o && !is_alnum(s[i - 1])) {
			if (o + 1 >= size)
				return NULL;
			buf[o++] = '_';
		}
		if (o + 1 >= size)
			return NULL;
		buf[o++] = s[i];
	}
	buf[o] = '\0';
	return o ? buf : NULL;
}

static bool has_token(const struct span *t, size_t n, const char *w)
{
	size_t i, wn = strlen(w);

	for (i = 0; i < n; i++)
		if (span_eq(t[i], w, wn))
			return true;
	return false;
}

/* Drop every token equal to w, then append w. */
static size_t move_last(struct span *t, size_t n, const char *w)
{
	size_t i, o = 0, wn = strlen(w);

	for (i = 0; i < n; i++)
		if (!span_eq(t[i], w, wn))
			t[o++] = t[i];
	t[o].p = w;
	t[o].n = wn;
	return o + 1;
}

int prom__metric_name(const char *name, const char *unit, enum prom_type type,
		      char *out, size_t size)
{
	struct span tok[NAME_IN_MAX / 2 + 8];
	char main_buf[64], per_buf[64];
	const char *slash, *w;
	size_t n = 0, len, i, o = 0;

	if (!name || !out || !size)
		return -EINVAL;
	len = strnlen(name, NAME_IN_MAX + 1);
	if (len > NAME_IN_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < len;) {
		size_t s;

		while (i < len && !is_alnum(name[i]) && name[i] != ':')
			i++;
		for (s = i; i < len && (is_alnum(name[i]) || name[i] == ':'); i++)
			;
		if (i > s) {
			tok[n].p = name + s;
			tok[n].n = i - s;
			n++;
		}
	}
	unit = unit ? unit : "";
	slash = strchr(unit, '/');
	w = unit_word(unit, slash ? (size_t)(slash - unit) : strlen(unit),
		      unit_words, sizeof(unit_words) / sizeof(unit_words[0]),
		      main_buf, sizeof(main_buf));
	if (w && !has_token(tok, n, w)) {
		tok[n].p = w;
		tok[n++].n = strlen(w);
	}
	w = slash ? unit_word(slash + 1, strlen(slash + 1), per_unit_words,
			      sizeof(per_unit_words) / sizeof(per_unit_words[0]),
			      per_buf, sizeof(per_buf)) : NULL;
	if (w && !has_token(tok, n, w)) {
		tok[n].p = "per";
		tok[n++].n = 3;
		tok[n].p = w;
		tok[n++].n = strlen(w);
	}
	if (type == PROM_COUNTER)
		n = move_last(tok, n, "total");
	if (type == PROM_GAUGE && !strcmp(unit, "1"))
		n = move_last(tok, n, "ratio");
	if (!n)
		return -EINVAL;
	if (tok[0].p[0] >= '0' && tok[0].p[0] <= '9')
		out[o++] = '_';
	for (i = 0; i < n; i++) {
		if (o + tok[i].n + (i > 0) + 1 > size || o + tok[i].n >= PROM_NAME_MAX)
			return -ENAMETOOLONG;
		if (i)
			out[o++] = '_';
		memcpy(out + o, tok[i].p, tok[i].n);
		o += tok[i].n;
	}
	out[o] = '\0';
	return 0;
}

int prom__label_name(const char *key, char *out, size_t size)
{
	const unsigned char *p = (const unsigned char *)key;
	size_t o = 0;
	const char *pfx = "";

	if (!key || !*key || !out || !size)
		return -EINVAL;
	if (*p >= '0' && *p <= '9')
		pfx = "key_";
	else if (p[0] == '_' && p[1] != '_')
		pfx = "key";
	if (strlen(pfx) + 1 > size)
		return -ENAMETOOLONG;
	memcpy(out, pfx, strlen(pfx));
	o = strlen(pfx);
	for (; *p; p++) {
		/* one '_' per character: UTF-8 continuation bytes add none */
		if (*p >= 0x80 && *p < 0xc0 && p != (const unsigned char *)key)
			continue;
		if (o + 2 > size || o + 1 >= PROM_NAME_MAX)
			return -ENAMETOOLONG;
		out[o++] = is_alnum((char)*p) || *p == '_' ? (char)*p : '_';
	}
	out[o] = '\0';
	return 0;
}

struct prom_writer *prom_writer__new(FILE *f)
{
	struct prom_writer *w;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->f = f;
	return w;
}

void prom_writer__free(struct prom_writer *w)
{
	size_t i;

	if (!w)
		return;
	for (i = 0; i < w->n_families; i++)
		free(w->families[i]);
	free(w->families);
	free(w);
}

/* s with invalid UTF-8 replaced; backslash, newline (and quote when in a
 * label value) escaped. */
static void put_escaped(FILE *f, const char *s, bool quote)
{
	char *copy = NULL;
	const char *v = utf8__sanitize(s, &copy);

	for (v = v ? v : ""; *v; v++) {
		if (*v == '\\')
			fputs("\\\\", f);
		else if (*v == '\n')
			fputs("\\n", f);
		else if (*v == '"' && quote)
			fputs("\\\"", f);
		else
			fputc(*v, f);
	}
	free(copy);
}

/* The shortest decimal that reads back as v, laid out as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) that the Collector's exporter uses
 * (exponent form below 1e-4 and from 1e+06 on: 8.388608e+06, 50, 0.1), or
 * the format's NaN, +Inf, -Inf. */
static const char *format_value(double v, char buf[40])
{
	int digits, exp;
	char *e;

	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	for (digits = 1; digits < 17; digits++) {
		snprintf(buf, 40, "%.*e", digits - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	snprintf(buf, 40, "%.*e", digits - 1, v);
	e = strchr(buf, 'e');
	exp = e ? atoi(e + 1) : 0;
	if (exp < -4 || exp >= 6)
		return buf;
	snprintf(buf, 40, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, v);
	return buf;
}

static void put_value(FILE *f, double v)
{
	char buf[40];

	fputs(format_value(v, buf), f);
}

int prom_writer__family(struct prom_writer *w, const char *name,
			const char *unit, enum prom_type type,
			const char *help)
{
	static const char *const type_names[] = {
		[PROM_GAUGE] = "gauge", [PROM_COUNTER] = "counter",
		[PROM_HISTOGRAM] = "histogram",
	};
	char pn[PROM_NAME_MAX], **grown;
	size_t i;
	int err;

	if (!w || (unsigned int)type > PROM_HISTOGRAM)
		return -EINVAL;
	err = prom__metric_name(name, unit, type, pn, sizeof(pn));
	if (err)
		return err;
	for (i = 0; i < w->n_families; i++)
		if (!strcmp(w->families[i], pn))
			return -EEXIST;
	if (w->n_families == w->cap_families) {
		size_t cap = w->cap_families ? 2 * w->cap_families : 16;

		grown = realloc(w->families, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		w->families = grown;
		w->cap_families = cap;
	}
	w->families[w->n_families] = strdup(pn);
	if (!w->families[w->n_families])
		return -ENOMEM;
	w->n_families++;
	memcpy(w->cur, pn, sizeof(pn));
	w->cur_type = type;
	if (help && *help) {
		fprintf(w->f, "# HELP %s ", pn);
		put_escaped(w->f, help, false);
		fputc('\n', w->f);
	}
	fprintf(w->f, "# TYPE %s %s\n", pn, type_names[type]);
	return 0;
}

/* {k="v",...,le="..."}: labels then extra, a sanitized name once, empty
 * keys and values skipped; le (if not NULL) last and reserved. */
static int put_labels(struct prom_writer *w, const struct prom_label *labels,
		      size_t n, const struct prom_label *extra, size_t n_extra,
		      const char *le)
{
	size_t total = n + n_extra, i, j, done = 0;
	char (*names)[PROM_NAME_MAX];

	names = calloc(total + 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (i = 0; i < total; i++) {
		const struct prom_label *l = i < n ? &labels[i] : &extra[i - n];

		if (!l->key || !l->value || !*l->value ||
		    prom__label_name(l->key, names[done], sizeof(names[done])))
			continue;
		if (w->cur_type == PROM_HISTOGRAM && !strcmp(names[done], "le"))
			continue;
		for (j = 0; j < done; j++)
			if (!strcmp(names[j], names[done]))
				break;
		if (j < done)
			continue;
		fprintf(w->f, "%s%s=\"", done ? "," : "{", names[done]);
		put_escaped(w->f, l->value, true);
		fputc('"', w->f);
		done++;
	}
	if (le)
		fprintf(w->f, "%sle=\"%s\"", done++ ? "," : "{", le);
	if (done)
		fputc('}', w->f);
	free(names);
	return 0;
}

int prom_writer__sample(struct prom_writer *w, const struct prom_label *labels,
			size_t n, const struct prom_label *extra,
			size_t n_extra, double value)
{
	int err;

	if (!w || !w->cur[0] || w->cur_type == PROM_HISTOGRAM ||
	    (n && !labels) || (n_extra && !extra))
		return -EINVAL;
	fputs(w->cur, w->f);
	err = put_labels(w, labels, n, extra, n_extra, NULL);
	if (err)
		return err;
	fputc(' ', w->f);
	put_value(w->f, value);
	fputc('\n', w->f);
	return 0;
}

int prom_writer__histogram(struct prom_writer *w,
			   const struct prom_label *labels, size_t n,
			   const struct prom_label *extra, size_t n_extra,
			   const double *bounds, size_t n_bounds,
			   const uint64_t *counts, double sum)
{
	uint64_t cum = 0;
	char buf[40];
	size_t i;
	int err = 0;

	if (!w || !w->cur[0] || w->cur_type != PROM_HISTOGRAM || !counts ||
	    (n_bounds && !bounds) || (n && !labels) || (n_extra && !extra))
		return -EINVAL;
	for (i = 0; i <= n_bounds && !err; i++) {
		cum += counts[i];
		fprintf(w->f, "%s_bucket", w->cur);
		err = put_labels(w, labels, n, extra, n_extra,
				 i < n_bounds ? format_value(bounds[i], buf) : "+Inf");
		fprintf(w->f, " %llu\n", (unsigned long long)cum);
	}
	if (err)
		return err;
	fprintf(w->f, "%s_sum", w->cur);
	err = put_labels(w, labels, n, extra, n_extra, NULL);
	fputc(' ', w->f);
	put_value(w->f, sum);
	fprintf(w->f, "\n%s_count", w->cur);
	err = err ? err : put_labels(w, labels, n, extra, n_extra, NULL);
	fprintf(w->f, " %llu\n", (unsigned long long)cum);
	return err;
}

static enum prom_type prom_type_of(enum mm_kind k)
{
	return k == MM_KIND_COUNTER ? PROM_COUNTER :
	       k == MM_KIND_HISTOGRAM ? PROM_HISTOGRAM : PROM_GAUGE;
}

static int put_point(struct prom_writer *w, const struct mm_snapshot *s,
		     const struct mm_point *p, const struct prom_label *extra,
		     size_t n_extra)
{
	struct prom_label l[MM_MAX_LABELS];
	size_t i, n = p->n_labels < MM_MAX_LABELS ? p->n_labels : MM_MAX_LABELS;

	for (i = 0; i < n; i++) {
		l[i].key = p->labels[i].key;
		l[i].value = p->labels[i].value;
	}
	if (p->kind != MM_KIND_HISTOGRAM)
		return prom_writer__sample(w, l, n, extra, n_extra, p->value);
	if (s->n_hist_bounds != MM_HIST_NBOUNDS)
		return -EINVAL;
	return prom_writer__histogram(w, l, n, extra, n_extra, s->hist_bounds,
				      s->n_hist_bounds, p->hist.bucket_counts,
				      p->hist.sum);
}

int prom_writer__snapshots(struct prom_writer *w,
			   const struct mm_snapshot *const *snaps,
			   const struct prom_label *const *extra,
			   const size_t *n_extra, size_t n)
{
	const struct mm_point **firsts = NULL;
	size_t n_firsts = 0, cap = 0, i, j, k, m;
	int err = 0, e;

	if (!w || (n && !snaps))
		return -EINVAL;
	/* the metric names, in order of first appearance */
	for (i = 0; i < n; i++) {
		for (j = 0; snaps[i] && j < snaps[i]->n_points; j++) {
			const struct mm_point *p = &snaps[i]->points[j];

			for (k = 0; k < n_firsts; k++)
				if (!strcmp(firsts[k]->name, p->name))
					break;
			if (k < n_firsts)
				continue;
			if (n_firsts == cap) {
				const struct mm_point **g;

				cap = cap ? 2 * cap : 16;
				g = realloc(firsts, cap * sizeof(*g));
				if (!g) {
					err = -ENOMEM;
					goto cleanup;
				}
				firsts = g;
			}
			firsts[n_firsts++] = p;
		}
	}
	for (k = 0; k < n_firsts; k++) {
		const struct mm_point *f = firsts[k];

		e = prom_writer__family(w, f->name, f->unit,
					prom_type_of(f->kind), f->description);
		if (e) {
			/* another name converted to the same one: skip it */
			err = err ? err : e;
			continue;
		}
		for (i = 0; i < n; i++) {
			for (m = 0; snaps[i] && m < snaps[i]->n_points; m++) {
				const struct mm_point *p = &snaps[i]->points[m];

				if (strcmp(p->name, f->name) || p->kind != f->kind)
					continue;
				e = put_point(w, snaps[i], p,
					      extra ? extra[i] : NULL,
					      extra && n_extra ? n_extra[i] : 0);
				err = err ? err : e;
			}
		}
	}
cleanup:
	free(firsts);
	return err;
}

int prom_writer__finish(struct prom_writer *w)
{
	if (!w)
		return -EINVAL;
	if (fflush(w->f) || ferror(w->f))
		return -EIO;
	return 0;
}
