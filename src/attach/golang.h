/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * golang.h - find the Go runtime's sampled-allocation path in a Go
 * executable (pure Go or cgo) and plan probes on it: runtime.mProf_Malloc
 * for each allocation Go itself samples, runtime.freeSpecial for the
 * release of a sampled object.
 */
#ifndef MEMTEL_GOLANG_H
#define MEMTEL_GOLANG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct golang_site {
	uint64_t offset;	/* file offset probed */
	bool emulated;		/* the kernel emulates the instruction there */
	const char *why;	/* where in the function, for -v */
};

struct golang {
	char path[PATH_MAX];		/* the executable, as the target sees it */
	char open_path[PATH_MAX];	/* as we reach it (/proc/PID/...) */
	struct golang_site malloc, free;
	uint64_t rate_addr;		/* &runtime.MemProfileRate in the target */
	uint64_t disabled_addr;		/* &runtime.disableMemoryProfiling, or 0 */
	uint64_t cgo_ret;		/* where asmcgocall's call of C code
					 * returns to, or 0 */
};

/* Inspect pid's executable. 0, -ENOENT if it is not a Go program with the
 * runtime's memory profiler (no runtime.mProf_Malloc, e.g. stripped),
 * -ENOTSUP if its hooks do not start with the register ABI's prologue
 * (Go before 1.17), -ESRCH if pid is gone, or -errno. */
int golang__find(pid_t pid, struct golang *out);

/* True unless the linker compiled memory profiling out of the binary (it
 * does when nothing references runtime.MemProfile, e.g. no runtime/pprof
 * import): then runtime.MemProfileRate is 0 and Go samples nothing. */
bool golang__profiling_enabled(pid_t pid, const struct golang *g);

/* Offset from a Go function's entry to probe, from its first len bytes:
 * the `jbe` of the stack-bound check (`[lea -N(%rsp),%r12;] cmp
 * 0x10(%r14),%rsp|%r12; jbe morestack`), which the kernel emulates and
 * which leaves every register and %rsp as at the entry; else 0. */
uint64_t golang__plan(const uint8_t *code, size_t len);

#endif /* MEMTEL_GOLANG_H */
