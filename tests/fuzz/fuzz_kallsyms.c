// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_kallsyms.c - /proc/kallsyms text (any bytes, no terminating NUL).
 * Parsing must never crash nor read past the input; every lookup of a
 * kernel address must give a name or NULL, never garbage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/ksyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	struct ksyms *ks;
	uint64_t off = 0;
	const char *name;

	if (!text)
		return 0;
	memcpy(text, data, size);
	ks = ksyms__parse(text, size);
	if (ks) {
		name = ksyms__lookup(ks, ~0ULL, &off);
		if (name && (!name[0] || strlen(name) >= 512))
			abort();
		(void)ksyms__lookup(ks, 0xffffffff81000000ULL, &off);
		ksyms__free(ks);
	}
	free(text);
	return 0;
}
