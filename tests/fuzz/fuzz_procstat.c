// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fuzz_procstat.c - /proc/PID/status and smaps text as a process could
 * make it look (its comm and its mappings' names are its own choice), and
 * /proc/PID/syscall text. The first byte picks the parser; none may crash, and what they accept must
 * be consistent (sizes from "N kB" fields are multiples of 1024).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "process/procstat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_mem pm = { 0 };
	uint64_t v = 0;
	char *text;

	if (!size)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		if (procstat__parse_status(text, &pm) == 0 &&
		    (pm.rss_bytes % 1024 || pm.virtual_bytes % 1024))
			abort();
		break;
	case 1:
		if (procstat__parse_smaps(text, &v) == 0 && v % 1024)
			abort();
		break;
	case 2:
		(void)procstat__parse_capeff(text, &v);
		break;
	default: {
		long nr = -1;

		/* a number it accepts is a system call's: never negative */
		if (procstat__parse_syscall(text, &nr) == 0 && nr < 0)
			abort();
		break;
	}
	}
	free(text);
	return 0;
}
