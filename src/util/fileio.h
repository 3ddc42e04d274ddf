/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * fileio.h - the one way the loader reads a file someone else controls and
 * the one way it writes an output file.
 *
 * We run as root. A profiled process controls its own files (its ELF
 * images, /tmp/perf-PID.map) and /proc shows what it chooses; the output
 * directory may be writable by others. So every read of such a file is
 * non-following (O_NOFOLLOW), non-blocking (O_NONBLOCK: a FIFO or a device
 * cannot stall us), of a regular file only where a regular file is
 * expected, and bounded in size; and every output file is written to a new
 * temporary name in its directory (O_CREAT|O_EXCL|O_NOFOLLOW: a planted
 * link is never followed nor reused), fsync'ed and renamed over the final
 * name (rename replaces a link, never writes through it), mode 0644.
 */
#ifndef MEMTEL_UTIL_FILEIO_H
#define MEMTEL_UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Flags for fileio__open. */
#define FILEIO_REGULAR	0x1	/* fail with -EINVAL unless a regular file */
#define FILEIO_FOLLOW	0x2	/* the last component may be a symlink
				 * (only for paths we built ourselves:
				 * /proc/PID/map_files links) */

/* Open path read-only, O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC|O_NOCTTY; st (if
 * not NULL) gets its fstat. A file larger than max_size (0: no limit) is
 * refused with -EFBIG. Returns the fd, or -errno (-ESRCH when a /proc/PID
 * path vanished, -ELOOP for a symlink). */
int fileio__open(const char *path, unsigned int flags, size_t max_size,
		 struct stat *st);

/* Open rel inside the directory root as if root were "/" (openat2 with
 * RESOLVE_IN_ROOT): for a file named by a target inside its own root
 * (/proc/PID/root), where an absolute link must never reach ours. No
 * symlink is followed anywhere on the way (-ELOOP); otherwise as
 * fileio__open (FILEIO_FOLLOW is refused with -EINVAL). fd or -errno
 * (-ENOSYS before Linux 5.6). */
int fileio__open_in_root(const char *root, const char *rel,
			 unsigned int flags, size_t max_size, struct stat *st);

/* Read fd to EOF, at most max bytes (more: -EFBIG), into a malloc'ed
 * NUL-terminated *out (its length in *len if not NULL). EINTR is retried;
 * EAGAIN (an empty FIFO or pipe) ends the read. 0 or -errno. */
int fileio__read_fd(int fd, size_t max, char **out, size_t *len);

/* fileio__open + fileio__read_fd: the one reader of whole text files
 * (/proc/PID/maps, status, smaps_rollup; perf maps). 0 or -errno. */
int fileio__read_text(const char *path, unsigned int flags, size_t max,
		      char **out, size_t *len);

/* An output file being written under a temporary name. */
struct outfile {
	FILE *f;		/* write here */
	char *path;		/* final name */
	char *tmp;		/* temporary name in the same directory */
};

/* Create a new temporary file next to path. 0 or -errno. */
int outfile__open(struct outfile *of, const char *path);
/* Flush, fsync, close and rename the file over its final name; always
 * releases of. 0 or -errno (the final name is then untouched). */
int outfile__commit(struct outfile *of);
/* Remove the temporary file and release of. NULL-safe, idempotent. */
void outfile__discard(struct outfile *of);
/* For emit callbacks, after each piece they write: 0, or -errno of the
 * write that failed on f (-EIO if that errno is lost). A failed buffered
 * write leaves only the stream's error flag, and by outfile__commit() the
 * errno that says why (ENOSPC: the disk is full) is gone; an emitter that
 * sets errno = 0 first, checks this and returns it reports the cause. */
int outfile__error(FILE *f);
/* outfile__open, emit(f, ctx), outfile__commit: a file written whole or
 * not at all. 0 or the first -errno. */
int outfile__write(const char *path, int (*emit)(FILE *f, void *ctx),
		   void *ctx);
/* A file that grows during the session (metrics.jsonl): whatever stands at
 * path is unlinked (a link is removed, never followed) and a new file is
 * created in its place with O_EXCL|O_NOFOLLOW, mode 0644, opened for
 * appending. NULL and errno set on failure. */
FILE *outfile__create(const char *path);

#endif /* MEMTEL_UTIL_FILEIO_H */
