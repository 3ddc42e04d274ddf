// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fmt.c - figures for people (see fmt.h).
 */
#include <stdio.h>

#include "util/fmt.h"

void fmt__bytes(double b, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}
