// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * jitspin.c - a tiny "JIT": copies a position-independent loop into an
 * anonymous executable mapping, announces it in /tmp/perf-PID.map the way
 * JIT runtimes do for perf ("START SIZE name", hex), and spins in it.
 *
 *   jitspin [--seconds S] [--no-map]
 *
 * --no-map writes no map file but prints "ready PID ADDR" (the loop's
 * address), for tests that plant their own /tmp/perf-PID.map.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* mov rax, rdi; 1: dec rax; jnz 1b; ret  -- spins rdi times */
static const unsigned char code[] = {
	0x48, 0x89, 0xf8,		/* mov %rdi,%rax */
	0x48, 0xff, 0xc8,		/* dec %rax */
	0x75, 0xfb,			/* jnz -5 */
	0xc3,				/* ret */
};

int main(int argc, char **argv)
{
	double seconds = 3;
	struct timespec t0, now;
	char path[64];
	void (*fn)(long);
	void *mem;
	FILE *f;

	int i, no_map = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--no-map"))
			no_map = 1;
		else
			return 2;
	}
	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	memcpy(mem, code, sizeof(code));
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	if (no_map) {
		printf("ready %d %lx\n", (int)getpid(), (unsigned long)mem);
		fflush(stdout);
	} else {
		f = fopen(path, "w");
		if (!f)
			return 1;
		fprintf(f, "%lx %zx jit_spin_loop\n", (unsigned long)mem,
			sizeof(code));
		fclose(f);
	}
	fn = (void (*)(long))mem;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		fn(10000000);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 <
		 seconds);
	if (!no_map)
		unlink(path);
	printf("done\n");
	return 0;
}
