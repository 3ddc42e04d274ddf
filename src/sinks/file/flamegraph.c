// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * flamegraph.c - weighted call stacks merged by prefix into a tree (one node
 * per distinct root-to-frame path, found through util/table.h keyed on
 * (parent, name), children kept sorted by name), written as folded text or
 * as an SVG flame graph. The SVG is laid out here (x and width in
 * proportion to value, root at the bottom, colour from a hash of the name so
 * a function keeps its colour across runs); the viewer (flamegraph.js,
 * embedded at build time) re-lays the frames out on zoom from the value
 * offsets stored on each frame (data-s, data-v, data-d) and the full name
 * kept in each frame's <title>.
 */
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/file/flamegraph.h"
#include "util/fileio.h"
#include "util/hash.h"
#include "util/table.h"
#include "util/utf8.h"

/* SVG geometry, in px. Labels use a monospace font whose advance is 0.6em. */
#define SVG_WIDTH	1200
#define SVG_PAD_X	10
#define FRAME_H		16
#define FONT_SIZE	12
#define CHAR_W		(0.6 * FONT_SIZE)
/* Frames below 1/MIN_FRAC_DIV of the total (0.1%) are not drawn. */
#define MIN_FRAC_DIV	1000.0

#define UTF8_REPLACEMENT "\xEF\xBF\xBD"	/* U+FFFD */

struct fg_node {
	struct fg_node *parent;
	struct fg_node **kids;	/* sorted by name (strcmp) */
	size_t nkids, kcap;
	uint64_t total;		/* this frame and everything it called */
	uint64_t self;		/* stacks ending at this frame */
	char name[];
};

struct flamegraph {
	struct fg_node *root;	/* "all": never in the table */
	struct fg_node **nodes;	/* every other node; the table indexes it */
	size_t n_nodes, cap_nodes;
	struct table index;	/* (parent, name) -> nodes[] */
};

struct strbuf {
	char *buf;
	size_t len, cap;
};

static void strbuf__free(struct strbuf *sb)
{
	if (!sb)
		return;
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static int strbuf__reserve(struct strbuf *sb, size_t extra)
{
	size_t cap = sb->cap ? sb->cap : 64;
	char *buf;

	if (sb->len + extra + 1 <= sb->cap)
		return 0;
	while (cap < sb->len + extra + 1)
		cap *= 2;
	buf = realloc(sb->buf, cap);
	if (!buf)
		return -ENOMEM;
	sb->buf = buf;
	sb->cap = cap;
	return 0;
}

static int strbuf__append(struct strbuf *sb, const char *s, size_t n)
{
	if (strbuf__reserve(sb, n))
		return -ENOMEM;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

static void strbuf__truncate(struct strbuf *sb, size_t len)
{
	sb->len = len;
	if (sb->buf)
		sb->buf[len] = '\0';
}

/* --- the tree --------------------------------------------------------------- */

static struct fg_node *node__new(struct fg_node *parent, const char *name)
{
	size_t len = strlen(name);
	struct fg_node *n = calloc(1, sizeof(*n) + len + 1);

	if (!n)
		return NULL;
	n->parent = parent;
	memcpy(n->name, name, len + 1);
	return n;
}

static void node__free(struct fg_node *n)
{
	if (!n)
		return;
	free(n->kids);
	free(n);
}

struct flamegraph *flamegraph__new(void)
{
	struct flamegraph *fg = calloc(1, sizeof(*fg));

	if (!fg)
		goto cleanup;
	fg->root = node__new(NULL, "all");
	if (!fg->root)
		goto cleanup;
	return fg;
cleanup:
	free(fg);
	errno = ENOMEM;
	return NULL;
}

void flamegraph__free(struct flamegraph *fg)
{
	size_t i;

	if (!fg)
		return;
	for (i = 0; i < fg->n_nodes; i++)
		node__free(fg->nodes[i]);
	node__free(fg->root);
	free(fg->nodes);
	table__free(&fg->index);
	free(fg);
}

uint64_t flamegraph__total(const struct flamegraph *fg)
{
	return fg ? fg->root->total : 0;
}

struct node_key {
	const struct flamegraph *fg;
	const struct fg_node *parent;
	const char *name;
};

static bool node_eq(const void *ctx, size_t idx)
{
	const struct node_key *k = ctx;
	const struct fg_node *n = k->fg->nodes[idx];

	return n->parent == k->parent && !strcmp(n->name, k->name);
}

/* Position in parent->kids where name is or would be inserted. */
static size_t kids_search(const struct fg_node *parent, const char *name)
{
	size_t lo = 0, hi = parent->nkids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(parent->kids[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The child of parent called name, created (with zero value) if missing. */
static int flamegraph__child(struct flamegraph *fg, struct fg_node *parent,
			     const char *name, struct fg_node **out)
{
	uint64_t h = hash__u64(hash__str(HASH_SEED, name), (uintptr_t)parent);
	struct node_key key = { fg, parent, name };
	struct fg_node *n;
	size_t pos;
	int64_t idx;

	idx = table__find(&fg->index, h, node_eq, &key);
	if (idx >= 0) {
		*out = fg->nodes[idx];
		return 0;
	}
	/* Make room everywhere first so nothing fails after the node exists. */
	if (fg->n_nodes == fg->cap_nodes) {
		size_t cap = fg->cap_nodes ? fg->cap_nodes * 2 : 256;
		struct fg_node **nodes = realloc(fg->nodes,
						 cap * sizeof(*nodes));

		if (!nodes)
			return -ENOMEM;
		fg->nodes = nodes;
		fg->cap_nodes = cap;
	}
	if (parent->nkids == parent->kcap) {
		size_t kcap = parent->kcap ? parent->kcap * 2 : 4;
		struct fg_node **kids = realloc(parent->kids,
						kcap * sizeof(*kids));

		if (!kids)
			return -ENOMEM;
		parent->kids = kids;
		parent->kcap = kcap;
	}
	n = node__new(parent, name);
	if (!n)
		return -ENOMEM;
	if (table__add(&fg->index, h, fg->n_nodes)) {
		node__free(n);
		return -ENOMEM;
	}
	fg->nodes[fg->n_nodes++] = n;
	pos = kids_search(parent, name);
	memmove(parent->kids + pos + 1, parent->kids + pos,
		(parent->nkids - pos) * sizeof(*parent->kids));
	parent->kids[pos] = n;
	parent->nkids++;
	*out = n;
	return 0;
}

int flamegraph__add(struct flamegraph *fg, const char *const *frames, size_t n,
		    uint64_t value)
{
	struct fg_node *node;
	size_t i;
	int err;

	if (!fg || !frames || !n)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!frames[i])
			return -EINVAL;
	if (!value)
		return 0;
	if (fg->root->total > UINT64_MAX - value)
		return -EOVERFLOW;

	/* On -ENOMEM part of the path may exist with zero value; writers skip
	 * such nodes and a later add of the same stack completes it. */
	node = fg->root;
	for (i = 0; i < n; i++) {
		err = flamegraph__child(fg, node, *frames[i] ? frames[i] :
					"[unknown]", &node);
		if (err)
			return err;
	}
	node->self += value;
	for (; node; node = node->parent)
		node->total += value;
	return 0;
}

/* --- folded ----------------------------------------------------------------- */

struct folded_line {
	char *stack;
	uint64_t value;
};

struct folded_ctx {
	struct folded_line *lines;
	size_t n, cap;
	struct strbuf path;
};

/* Append name with the substitutions documented in flamegraph.h. */
static int folded_put_name(struct strbuf *sb, const char *name)
{
	size_t len = strlen(name), i;
	char *p;

	if (strbuf__reserve(sb, len))
		return -ENOMEM;
	p = sb->buf + sb->len;
	for (i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (c == ';')
			c = ':';
		else if (c < 0x20 || c == 0x7f)
			c = ' ';
		p[i] = c;
	}
	sb->len += len;
	sb->buf[sb->len] = '\0';
	return 0;
}

static int folded_collect(struct folded_ctx *c, const struct fg_node *n)
{
	size_t mark = c->path.len, i;
	int err = 0;

	if (!n->total)
		return 0;
	if (mark && strbuf__append(&c->path, ";", 1))
		return -ENOMEM;
	err = folded_put_name(&c->path, n->name);
	if (err)
		goto cleanup;
	if (n->self) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 256;
			struct folded_line *l = realloc(c->lines,
							cap * sizeof(*l));

			if (!l) {
				err = -ENOMEM;
				goto cleanup;
			}
			c->lines = l;
			c->cap = cap;
		}
		c->lines[c->n].stack = strdup(c->path.buf);
		if (!c->lines[c->n].stack) {
			err = -ENOMEM;
			goto cleanup;
		}
		c->lines[c->n++].value = n->self;
	}
	for (i = 0; i < n->nkids && !err; i++)
		err = folded_collect(c, n->kids[i]);
cleanup:
	strbuf__truncate(&c->path, mark);
	return err;
}

static int folded_line_cmp(const void *a, const void *b)
{
	const struct folded_line *x = a, *y = b;

	return strcmp(x->stack, y->stack);
}

/* The emitters stop at the first failed write with its errno (see
 * outfile__error: ENOSPC must not read as EIO). */
static int folded_emit(FILE *f, void *arg)
{
	const struct folded_ctx *c = arg;
	size_t i;

	errno = 0;
	for (i = 0; i < c->n; i++) {
		fprintf(f, "%s %" PRIu64 "\n", c->lines[i].stack,
			c->lines[i].value);
		if (ferror(f))
			break;
	}
	return outfile__error(f);
}

int flamegraph__write_folded(const struct flamegraph *fg, const char *path)
{
	struct folded_ctx c = {};
	size_t i, j;
	int err = 0;

	if (!fg || !path)
		return -EINVAL;
	for (i = 0; i < fg->root->nkids && !err; i++)
		err = folded_collect(&c, fg->root->kids[i]);
	if (err)
		goto cleanup;
	if (c.n)	/* qsort(NULL, 0, ...) is undefined */
		qsort(c.lines, c.n, sizeof(*c.lines), folded_line_cmp);
	/* Merge stacks that the substitutions made equal. */
	for (i = 0, j = 0; i < c.n; i++) {
		if (j && !strcmp(c.lines[j - 1].stack, c.lines[i].stack)) {
			c.lines[j - 1].value += c.lines[i].value;
			free(c.lines[i].stack);
		} else {
			c.lines[j++] = c.lines[i];
		}
	}
	c.n = j;
	err = outfile__write(path, folded_emit, &c);
cleanup:
	for (i = 0; i < c.n; i++)
		free(c.lines[i].stack);
	free(c.lines);
	strbuf__free(&c.path);
	return err;
}

/* --- SVG -------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p that XML accepts, or 0. */
static size_t xml_seq_len(const unsigned char *p)
{
	size_t len = utf8__seq_len((const char *)p);

	/* U+FFFE and U+FFFF are not XML characters. */
	if (len == 3 && p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe)
		return 0;
	return len;
}

/*
 * Append s as text XML accepts: valid UTF-8 with ASCII control characters
 * as ' ' and each byte of an ill-formed sequence as U+FFFD. Not yet escaped:
 * labels are truncated on this form, by code point.
 */
static int display_put(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int err = 0;

	while (*p && !err) {
		size_t len;

		if (*p < 0x80) {
			char c = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;

			err = strbuf__append(sb, &c, 1);
			p++;
			continue;
		}
		len = xml_seq_len(p);
		if (len) {
			err = strbuf__append(sb, (const char *)p, len);
			p += len;
		} else {
			err = strbuf__append(sb, UTF8_REPLACEMENT, 3);
			p++;
		}
	}
	return err;
}

static size_t utf8_count(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Byte length of the first k code points of valid UTF-8 s. */
static size_t utf8_prefix(const char *s, size_t k)
{
	size_t i = 0;

	while (s[i] && k) {
		i++;
		while (((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		k--;
	}
	return i;
}

/* Write s with the five XML special characters escaped. */
static void xml_put(FILE *f, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		default:
			fputc(s[i], f);
		}
	}
}

/* Sanitize raw (display_put) and write it escaped; tmp is scratch. */
static int xml_put_raw(FILE *f, struct strbuf *tmp, const char *raw)
{
	strbuf__truncate(tmp, 0);
	if (display_put(tmp, raw))
		return -ENOMEM;
	xml_put(f, tmp->buf ? tmp->buf : "", tmp->len);
	return 0;
}

enum palette { PALETTE_HOT, PALETTE_MEM };

struct svg_ctx {
	const struct flamegraph *fg;
	const char *title, *subtitle, *unit;
	enum palette palette;
	bool bytes;
	int max_depth;		/* of drawn frames, "all" being 0 */
	int height;
	int frames_bottom;	/* y of the bottom edge of "all" */
	double scale;		/* px per unit of value */
	struct strbuf name;
};

static bool frame_drawn(const struct svg_ctx *c, const struct fg_node *n)
{
	return n->total && (double)n->total * MIN_FRAC_DIV >=
			   (double)c->fg->root->total;
}

static void svg_depth(struct svg_ctx *c, const struct fg_node *n, int depth)
{
	size_t i;

	if (!frame_drawn(c, n))
		return;
	if (depth > c->max_depth)
		c->max_depth = depth;
	for (i = 0; i < n->nkids; i++)
		svg_depth(c, n->kids[i], depth + 1);
}

static void fmt_count(char *buf, size_t sz, uint64_t v)
{
	char digits[32];
	size_t n, i, o = 0;

	n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	for (i = 0; i < n && o + 2 < sz; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
}

/* "1.50 MiB" / "512 bytes" for bytes, "1,234 samples" otherwise; the
 * script's fmt() must agree. */
static void fmt_value(const struct svg_ctx *c, char *buf, size_t sz,
		      uint64_t v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	char num[40];
	double d;
	int u;

	if (c->bytes && v >= 1024) {
		d = (double)v / 1024;
		for (u = 0; d >= 1024 && u < 5; u++)
			d /= 1024;
		snprintf(buf, sz, "%.2f %s", d, units[u]);
		return;
	}
	fmt_count(num, sizeof(num), v);
	snprintf(buf, sz, "%s %s", num, c->bytes ? "bytes" : c->unit);
}

static void frame_color(const struct svg_ctx *c, const char *name, int *r,
			int *g, int *b)
{
	uint64_t h = hash__mix(hash__str(HASH_SEED, name));
	double v1 = (h & 0xff) / 255.0, v2 = ((h >> 8) & 0xff) / 255.0,
	       v3 = ((h >> 16) & 0xff) / 255.0;

	if (c->palette == PALETTE_MEM) {	/* greens to teals */
		*r = 30 + (int)(70 * v1);
		*g = 170 + (int)(70 * v2);
		*b = 80 + (int)(120 * v3);
	} else {				/* reds to yellows */
		*r = 205 + (int)(50 * v3);
		*g = (int)(200 * v1);
		*b = (int)(55 * v2);
	}
}

static int svg_frame(FILE *f, struct svg_ctx *c, const struct fg_node *n,
		     uint64_t start, int depth)
{
	double x = SVG_PAD_X + start * c->scale, w = n->total * c->scale;
	double y = c->frames_bottom - (depth + 1) * FRAME_H;
	char val[64];
	size_t i, cps, k;
	int r, g, b, err;

	if (!frame_drawn(c, n))
		return 0;
	strbuf__truncate(&c->name, 0);
	if (display_put(&c->name, n->name))
		return -ENOMEM;
	fmt_value(c, val, sizeof(val), n->total);
	frame_color(c, n->name, &r, &g, &b);

	fprintf(f, "<g class=\"f\" data-s=\"%" PRIu64 "\" data-v=\"%" PRIu64
		"\" data-d=\"%d\"><title>", start, n->total, depth);
	xml_put(f, c->name.buf, c->name.len);
	fprintf(f, "\n%s, %.2f%%</title><rect x=\"%.2f\" y=\"%.0f\" "
		"width=\"%.2f\" height=\"%d\" rx=\"2\" fill=\"rgb(%d,%d,%d)\"/>"
		"<text x=\"%.2f\" y=\"%.1f\">", val,
		100.0 * n->total / c->fg->root->total, x, y, w, FRAME_H - 1,
		r, g, b, x + 3, y + FRAME_H - 4.5);
	/* Same rule as label() in the script. */
	cps = utf8_count(c->name.buf);
	k = w > 6 ? (size_t)((w - 6) / CHAR_W) : 0;
	if (k >= cps) {
		xml_put(f, c->name.buf, c->name.len);
	} else if (k >= 3) {
		xml_put(f, c->name.buf, utf8_prefix(c->name.buf, k - 2));
		fputs("..", f);
	}
	fputs("</text></g>\n", f);
	err = outfile__error(f);
	if (err)
		return err;

	for (i = 0; i < n->nkids; i++) {
		err = svg_frame(f, c, n->kids[i], start, depth + 1);
		if (err)
			return err;
		start += n->kids[i]->total;
	}
	return 0;
}

/*
 * The viewer's style and script, embedded at build time from flamegraph.css
 * and flamegraph.js beside this file (see the Makefile's "assets"): the
 * script needs only what the document holds (layout constants and the unit
 * on #frames; per frame data-s, data-v, data-d and "name\nvalue, share" in
 * <title>). Both go into CDATA sections; the build refuses either file if
 * it contains "]]>".
 */
extern const char asset_flamegraph_css[];
extern const char asset_flamegraph_js[];

static int svg_emit(FILE *f, void *arg)
{
	struct svg_ctx *c = arg;
	const struct fg_node *root = c->fg->root;
	const char *bg_bottom = c->palette == PALETTE_MEM ? "#dcebf2" : "#eeeeb0";
	int title_y = 24, err;

	errno = 0;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
		"width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n"
		"<!-- flame graph written by memtel-bpf -->\n"
		"<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
		"<stop offset=\"5%%\" stop-color=\"#eeeeee\"/>"
		"<stop offset=\"95%%\" stop-color=\"%s\"/></linearGradient></defs>\n"
		"<style type=\"text/css\"><![CDATA[\n%s]]></style>\n"
		"<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n"
		"<text id=\"title\" x=\"%d\" y=\"%d\">",
		SVG_WIDTH, c->height, SVG_WIDTH, c->height, bg_bottom,
		asset_flamegraph_css,
		SVG_WIDTH, c->height, SVG_WIDTH / 2, title_y);
	err = xml_put_raw(f, &c->name, c->title);
	if (err)
		return err;
	fputs("</text>\n", f);
	if (c->subtitle && *c->subtitle) {
		fprintf(f, "<text id=\"subtitle\" x=\"%d\" y=\"%d\">",
			SVG_WIDTH / 2, title_y + 18);
		err = xml_put_raw(f, &c->name, c->subtitle);
		if (err)
			return err;
		fputs("</text>\n", f);
	}

	if (!root->total) {
		fprintf(f, "<text id=\"empty\" x=\"%d\" y=\"%d\">no samples</text>\n"
			"</svg>\n", SVG_WIDTH / 2, c->height / 2 + 10);
		return outfile__error(f);
	}

	fprintf(f, "<text id=\"unzoom\" class=\"btn hide\" x=\"%d\" y=\"%d\">"
		"Reset Zoom</text>\n"
		"<text id=\"search\" class=\"btn\" x=\"%d\" y=\"%d\" "
		"text-anchor=\"end\">Search</text>\n"
		"<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"></text>\n"
		"<g id=\"frames\" data-x0=\"%d\" data-width=\"%d\" data-cw=\"%.2f\" "
		"data-total=\"%" PRIu64 "\" data-unit=\"",
		SVG_PAD_X, title_y, SVG_WIDTH - SVG_PAD_X, title_y,
		SVG_PAD_X, c->height - 10, SVG_WIDTH - SVG_PAD_X, c->height - 10,
		SVG_PAD_X, SVG_WIDTH - 2 * SVG_PAD_X, CHAR_W, root->total);
	err = xml_put_raw(f, &c->name, c->bytes ? "bytes" : c->unit);
	if (err)
		return err;
	fputs("\">\n", f);
	err = svg_frame(f, c, root, 0, 0);
	if (err)
		return err;
	fprintf(f, "</g>\n<script type=\"text/ecmascript\"><![CDATA[\n%s]]>"
		"</script>\n</svg>\n", asset_flamegraph_js);
	return outfile__error(f);
}

int flamegraph__write_svg(const struct flamegraph *fg, const char *path,
			  const struct flamegraph_opts *o)
{
	struct flamegraph_opts def = {};
	struct svg_ctx c = {};
	locale_t cloc, old;
	int err, frames_top;

	if (!fg || !path)
		return -EINVAL;
	if (!o)
		o = &def;
	c.fg = fg;
	c.title = o->title ? o->title : "Flame Graph";
	c.subtitle = o->subtitle;
	c.unit = o->unit && *o->unit ? o->unit : "samples";
	c.bytes = !strcmp(c.unit, "bytes");
	if (!o->palette || !strcmp(o->palette, "hot"))
		c.palette = PALETTE_HOT;
	else if (!strcmp(o->palette, "mem"))
		c.palette = PALETTE_MEM;
	else
		return -EINVAL;

	frames_top = c.subtitle && *c.subtitle ? 56 : 40;
	if (fg->root->total) {
		svg_depth(&c, fg->root, 0);
		c.scale = (double)(SVG_WIDTH - 2 * SVG_PAD_X) / fg->root->total;
		c.frames_bottom = frames_top + (c.max_depth + 1) * FRAME_H;
		c.height = c.frames_bottom + 30;
	} else {
		c.height = frames_top + 120;
	}

	/* Numbers in SVG and CSS need '.' whatever LC_NUMERIC the caller set. */
	cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!cloc)
		return -errno;
	old = uselocale(cloc);
	err = outfile__write(path, svg_emit, &c);
	uselocale(old);
	freelocale(cloc);
	strbuf__free(&c.name);
	return err;
}
