// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * random.c - random bytes from the kernel and version 4 UUIDs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/random.h>

#include "util/random.h"

int random__bytes(void *buf, size_t n)
{
	uint8_t *b = buf;
	size_t got = 0;
	int fd = -1, err = 0;

	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ENOSYS)
				return -errno;
			break;
		}
		got += r;
	}
	if (got == n)
		return 0;
	/* Kernels before 3.17 have no getrandom(2). */
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? -errno : -EIO;
			goto cleanup;
		}
		got += r;
	}

cleanup:
	close(fd);
	return err;
}

int random__uuid4(char out[37])
{
	uint8_t b[16];
	int err;

	if (!out)
		return -EINVAL;
	err = random__bytes(b, sizeof(b));
	if (err)
		return err;
	/* RFC 9562 section 5.4: version 4, variant 10. */
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}
