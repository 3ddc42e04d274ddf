// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * truncself.c - a process that truncates its own library while profiled:
 * it copies LIB to COPY, dlopens the copy and allocates through it; on
 * SIGUSR1 it moves its mappings of the library to anonymous memory (same
 * addresses, same bytes), ftruncates COPY to 0 bytes and goes on
 * allocating through the library. The target survives the truncation
 * (truncation takes even private copies of file pages away, so they must
 * not be file pages any more); a profiler that mapped COPY gets SIGBUS the
 * next time it reads the file.
 *
 *   truncself LIB COPY [--seconds S]
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

static volatile sig_atomic_t want_truncate;

static void on_usr1(int sig)
{
	(void)sig;
	want_truncate = 1;
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(from, O_RDONLY);
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (in < 0 || out < 0)
		return -1;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return -1;
	close(in);
	close(out);
	return n < 0 ? -1 : 0;
}

/* Replace every mapping of path by anonymous memory holding the same
 * bytes with the same protection. */
static int unfile(const char *path)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[5];
		int prot = 0;
		void *save;

		if (!strstr(line, path) ||
		    sscanf(line, "%lx-%lx %4s", &a, &b, perms) < 3)
			continue;
		if (perms[0] == 'r')
			prot |= PROT_READ;
		if (perms[1] == 'w')
			prot |= PROT_WRITE;
		if (perms[2] == 'x')
			prot |= PROT_EXEC;
		save = malloc(b - a);
		if (!save || mprotect((void *)a, b - a, prot | PROT_READ))
			return -1;
		memcpy(save, (void *)a, b - a);
		if (mmap((void *)a, b - a, PROT_READ | PROT_WRITE,
			 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
		    MAP_FAILED)
			return -1;
		memcpy((void *)a, save, b - a);
		free(save);
		if (mprotect((void *)a, b - a, prot))
			return -1;
		found++;
	}
	fclose(f);
	return found ? 0 : -1;
}

int main(int argc, char **argv)
{
	void (*site)(int n, size_t size, void **keep);
	struct timespec t0, now, nap = { 0, 1000000 };
	double seconds = 10;
	int fd, done = 0;
	void *h;

	if (argc < 3) {
		fprintf(stderr, "usage: truncself LIB COPY [--seconds S]\n");
		return 2;
	}
	if (argc >= 5 && !strcmp(argv[3], "--seconds"))
		seconds = atof(argv[4]);
	signal(SIGUSR1, on_usr1);
	if (copy_file(argv[1], argv[2])) {
		perror("copy");
		return 1;
	}
	h = dlopen(argv[2], RTLD_NOW);
	site = h ? (void (*)(int, size_t, void **))dlsym(h, "lib_alloc_site")
		 : NULL;
	if (!site) {
		fprintf(stderr, "dlopen %s: %s\n", argv[2], dlerror());
		return 1;
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (want_truncate && !done) {
			if (unfile(argv[2])) {
				fprintf(stderr, "cannot move the library\n");
				return 1;
			}
			fd = open(argv[2], O_WRONLY);
			if (fd < 0 || ftruncate(fd, 0)) {
				perror("truncate");
				return 1;
			}
			close(fd);
			done = 1;
			printf("truncated\n");
			fflush(stdout);
		}
		site(16, 512, NULL);
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - t0.tv_sec + (now.tv_nsec - t0.tv_nsec) / 1e9 <
		 seconds);
	return 0;
}
