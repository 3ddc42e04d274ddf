// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_procmaps.c - /proc/PID/maps text as a process could make it look
 * (its mappings' paths are its own choice: newlines aside, any bytes).
 * Parsing must never crash, and every mapping it returns must be sane.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mt_maps m = { 0 };
	char *text = malloc(size + 1);
	size_t i;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (procmaps__parse(text, &m) == 0) {
		for (i = 0; i < m.n; i++) {
			if (m.v[i].end < m.v[i].start || !m.v[i].path)
				abort();
			if (i && m.v[i].start < m.v[i - 1].start)
				abort();
			(void)procmaps__find(&m, m.v[i].start);
		}
		procmaps__free(&m);
	}
	free(text);
	return 0;
}
