// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * fileio.c - bounded, non-following reads of files others control and
 * atomic output files (see fileio.h for the policy and why).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <linux/openat2.h>
#include <unistd.h>

#include "util/fileio.h"

/* The checks every opened file passes: its type and size. */
static int check_fd(int fd, unsigned int flags, size_t max_size,
		    struct stat *st)
{
	struct stat sb;

	if (fstat(fd, &sb))
		return -errno;
	if ((flags & FILEIO_REGULAR) && !S_ISREG(sb.st_mode))
		return -EINVAL;
	if (max_size && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > max_size)
		return -EFBIG;
	if (st)
		*st = sb;
	return 0;
}

int fileio__open(const char *path, unsigned int flags, size_t max_size,
		 struct stat *st)
{
	int oflags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
	int fd, err;

	if (!(flags & FILEIO_FOLLOW))
		oflags |= O_NOFOLLOW;
	fd = open(path, oflags);
	if (fd < 0) {
		/* /proc/PID vanishing means the process is gone. */
		if (errno == ENOENT && strncmp(path, "/proc/", 6) == 0)
			return -ESRCH;
		return -errno;
	}
	err = check_fd(fd, flags, max_size, st);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int fileio__open_in_root(const char *root, const char *rel,
			 unsigned int flags, size_t max_size, struct stat *st)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
			 O_NOFOLLOW,
		/* absolute links and ".." stay inside root; no link at all
		 * is followed, magic /proc links included */
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	int rootfd, fd, err;

	if (!root || !rel || flags & FILEIO_FOLLOW)
		return -EINVAL;
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return errno == ENOENT && !strncmp(root, "/proc/", 6) ? -ESRCH
								    : -errno;
	fd = (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof(how));
	err = fd < 0 ? -errno : 0;
	close(rootfd);
	if (err)
		return err;
	err = check_fd(fd, flags, max_size, st);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int fileio__read_fd(int fd, size_t max, char **out, size_t *lenp)
{
	size_t cap = 0, len = 0;
	char *buf = NULL;
	int err = 0;

	for (;;) {
		ssize_t n;

		if (cap - len < 4096 + 1) {
			size_t ncap = cap ? cap * 2 : 16384;
			char *nb;

			if (ncap > max + 4096 + 1)
				ncap = max + 4096 + 1;
			if (ncap <= cap) {
				err = -EFBIG;
				goto cleanup;
			}
			nb = realloc(buf, ncap);
			if (!nb) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* ESRCH from a task that exited while we read */
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += n;
		if (len > max) {
			err = -EFBIG;
			goto cleanup;
		}
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf)
			return -ENOMEM;
	}
	buf[len] = '\0';
	*out = buf;
	if (lenp)
		*lenp = len;
	buf = NULL;
cleanup:
	free(buf);
	return err;
}

int fileio__read_text(const char *path, unsigned int flags, size_t max,
		      char **out, size_t *len)
{
	int fd, err;

	fd = fileio__open(path, flags, max, NULL);
	if (fd < 0)
		return fd;
	err = fileio__read_fd(fd, max, out, len);
	close(fd);
	return err;
}

/* A new file next to path, named .BASE.XXXXXXXX (random hex): created with
 * O_EXCL|O_NOFOLLOW so nothing planted is reused, retried on a clash. */
static int create_tmp(const char *path, char **tmpp)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;
	const char *base = slash ? slash + 1 : path;
	int tries, fd;

	for (tries = 0; tries < 100; tries++) {
		unsigned int r = 0;
		char *tmp;

		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (unsigned int)rand() ^ (unsigned int)getpid();
		if (asprintf(&tmp, "%.*s.%s.%08x", dirlen, path, base, r) < 0)
			return -ENOMEM;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			  O_CLOEXEC, 0644);
		if (fd >= 0) {
			/* umask may have narrowed it; reports are shared. */
			if (fchmod(fd, 0644)) {
				int err = -errno;

				close(fd);
				unlink(tmp);
				free(tmp);
				return err;
			}
			*tmpp = tmp;
			return fd;
		}
		free(tmp);
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int outfile__open(struct outfile *of, const char *path)
{
	int fd;

	memset(of, 0, sizeof(*of));
	if (!path || !*path)
		return -EINVAL;
	of->path = strdup(path);
	if (!of->path)
		return -ENOMEM;
	fd = create_tmp(path, &of->tmp);
	if (fd < 0) {
		free(of->path);
		of->path = NULL;
		return fd;
	}
	of->f = fdopen(fd, "w");
	if (!of->f) {
		int err = -errno;

		close(fd);
		outfile__discard(of);
		return err;
	}
	return 0;
}

void outfile__discard(struct outfile *of)
{
	if (!of)
		return;
	if (of->f)
		fclose(of->f);
	if (of->tmp)
		unlink(of->tmp);
	free(of->tmp);
	free(of->path);
	memset(of, 0, sizeof(*of));
}

int outfile__commit(struct outfile *of)
{
	int err = 0;

	if (!of->f)
		return -EINVAL;
	if (fflush(of->f))
		err = -errno;
	else if (ferror(of->f))
		err = -EIO;
	else if (fsync(fileno(of->f)))
		err = -errno;
	if (fclose(of->f) && !err)
		err = -errno;
	of->f = NULL;
	if (!err && rename(of->tmp, of->path))
		err = -errno;
	if (!err) {
		free(of->tmp);
		of->tmp = NULL;
	}
	outfile__discard(of);
	return err;
}

int outfile__error(FILE *f)
{
	if (!ferror(f))
		return 0;
	return errno ? -errno : -EIO;
}

int outfile__write(const char *path, int (*emit)(FILE *f, void *ctx),
		   void *ctx)
{
	struct outfile of;
	int err;

	err = outfile__open(&of, path);
	if (err)
		return err;
	err = emit(of.f, ctx);
	if (err) {
		outfile__discard(&of);
		return err;
	}
	return outfile__commit(&of);
}

FILE *outfile__create(const char *path)
{
	FILE *f;
	int fd;

	if (unlink(path) && errno != ENOENT)
		return NULL;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW |
		  O_CLOEXEC, 0644);
	if (fd < 0)
		return NULL;
	if (fchmod(fd, 0644) || !(f = fdopen(fd, "a"))) {
		int e = errno;

		close(fd);
		errno = e;
		return NULL;
	}
	return f;
}
