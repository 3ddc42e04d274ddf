// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * utf8.c - UTF-8 validation and repair (RFC 3629's well-formed byte
 * sequences; see utf8.h).
 */
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

size_t utf8__seq_len(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;	/* no overlong */
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;	/* no surrogate */

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;	/* <= U+10FFFF */

		if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

bool utf8__valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8__seq_len((const char *)p);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

const char *utf8__sanitize(const char *s, char **copy)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out, *o;

	*copy = NULL;
	if (utf8__valid(s))
		return s;
	out = malloc(strlen(s) * 3 + 1);	/* each byte -> at most 3 */
	if (!out)
		return NULL;
	for (o = out; *p;) {
		size_t n = utf8__seq_len((const char *)p);

		if (n) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);	/* U+FFFD */
			o += 3;
			p++;
		}
	}
	*o = '\0';
	*copy = out;
	return out;
}
