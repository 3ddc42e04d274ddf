// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * memtel_sampler.c - libmemtel-sampler.so, an in-process heap sampler that
 * fires the OpenTelemetry `otel_memory` USDT probes, so a profiler traps
 * only on sampled allocations. LD_PRELOAD it (memtel-bpf --sampler does)
 * or link it ahead of libc. It interposes the malloc family, forwards
 * every call to the next allocator (dlsym(RTLD_NEXT)), and samples by
 * bytes: each thread counts down a random exponential gap (mean
 * MEMTEL_SAMPLER_MEAN bytes, default 512 KiB) and an allocation that
 * crosses zero fires otel_memory:alloc(ptr, size, weighted_bytes) and is
 * remembered in a lock-free pointer set; a free of a remembered pointer
 * fires otel_memory:free(ptr). An unsampled call costs a TLS decrement and
 * a compare (malloc) or one load from the set's 8 KiB filter (free). C++
 * operator new and delete are interposed too, on the same paths:
 * allocators such as jemalloc define operators that never call malloc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/sdt.h>

#include "sampler_core.h"

/* <sys/sdt.h> marks a probe site with a 1-byte nop, which a uprobe traps
 * on (int3 + emulation). A 5-byte nop is rewritten by kernels 6.18+ into a
 * call on its first hit (docs/PLATFORM.md): about half the cost per hit. */
#undef _SDT_NOP
#define _SDT_NOP .byte 0x0f; .byte 0x1f; .byte 0x44; .byte 0x00; .byte 0x00

#define EXPORT __attribute__((visibility("default")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* 16384 buckets of 8 slots: 1 MiB of zero pages, touched as used; room
 * for ~100k live samples (~50 GiB of live heap at the default mean) before
 * buckets start to fill. */
#define N_BUCKETS 16384
/* 4096 filter counts (8 KiB), 4 buckets each: a free looks at the buckets
 * only when one of its group's 4 holds a sample, about live / 4096 of the
 * time while fewer than a few thousand samples are live. */
#define N_FILTER 4096

static _Atomic uintptr_t slots[N_BUCKETS * MTS_BUCKET_SLOTS]
	__attribute__((aligned(64)));
static _Atomic uint16_t filter[N_FILTER] __attribute__((aligned(64)));
static struct mts_set sampled = {
	.slots = slots, .filter = filter,
	.bucket_mask = N_BUCKETS - 1, .filter_mask = N_FILTER - 1,
};
static uint64_t mean = MTS_DEFAULT_MEAN;
static _Atomic uint64_t n_threads;

/* Per thread: bytes left until the next sample point and the generator.
 * initial-exec: a general-dynamic TLS access may itself call malloc. */
struct tls {
	int64_t countdown;
	uint64_t rng;
	int ready;
};
static __thread struct tls tl __attribute__((tls_model("initial-exec")));

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

/* dlsym may allocate (glibc's dlerror state) before real_malloc is known:
 * those calls get bump-allocated bytes from here, never freed. */
static char boot[64 * 1024] __attribute__((aligned(16)));
static size_t boot_used;
static int resolving;

static int is_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
	size_t off = (boot_used + 15) & ~(size_t)15;

	if (n > sizeof(boot) - off)
		return NULL;
	boot_used = off + n;
	return boot + off;	/* static storage: already zero */
}

static uint64_t parse_mean(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return MTS_DEFAULT_MEAN;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > (1ULL << 40))
		return MTS_DEFAULT_MEAN;
	return v;
}

static void resolve(void)
{
	int saved = errno;

	resolving = 1;
	mean = parse_mean(getenv("MEMTEL_SAMPLER_MEAN"));
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_free = dlsym(RTLD_NEXT, "free");
	real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = dlsym(RTLD_NEXT, "memalign");
	real_valloc = dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	/* last: the others' presence is what callers test */
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
	errno = saved;
	if (!real_malloc || !real_free || !real_calloc || !real_realloc)
		abort();	/* no allocator behind us: nothing can work */
}

__attribute__((constructor)) static void sampler_init(void)
{
	if (!real_malloc)
		resolve();
}

/* The countdown crossed zero (or this thread's first call). Returns the
 * weighted bytes to report for p, or 0 if p is not sampled. */
static __attribute__((noinline, cold)) uint64_t sample_slow(void *p,
							     size_t n)
{
	if (unlikely(!tl.ready)) {
		/* a fresh thread: its gap starts at this allocation */
		tl.rng = (uint64_t)(uintptr_t)&tl ^
			 (atomic_fetch_add(&n_threads, 1) * 0xd1342543de82ef95ULL) ^
			 ((uint64_t)getpid() << 32);
		tl.ready = 1;
		tl.countdown = mts_next_gap(&tl.rng, mean) - (int64_t)n;
		if (tl.countdown > 0)
			return 0;
	}
	tl.countdown = mts_next_gap(&tl.rng, mean);
	if (!p || !mts_set_insert(&sampled, (uintptr_t)p))
		return 0;
	return mts_weight(n, mean);
}

/* The common path: a TLS decrement and a compare, decided before the
 * call, so that an allocation which is not sampled is a tail call into the
 * next allocator (no frame of ours, no second return) and the wrapper costs
 * a few instructions. Bytes of an allocation that then fails count toward
 * the gap too (a sample point landing on one is skipped). */
#define UNSAMPLED(n) likely((tl.countdown -= (int64_t)(n)) > 0)

/* The countdown crossed zero (UNSAMPLED(n) was false) and p came back:
 * sample it. The probe itself sits in each interposed function, so the
 * frame under it is the caller's. */
#define SAMPLED(p, n)                                                        \
	do {                                                                 \
		uint64_t w_ = sample_slow((p), (n));                         \
		if (w_)                                                      \
			STAP_PROBE3(otel_memory, alloc, (p), (uint64_t)(n),  \
				    w_);                                     \
	} while (0)

#define SAMPLE_FREE(p)                                                       \
	do {                                                                 \
		if ((p) && unlikely(mts_set_remove(&sampled, (uintptr_t)(p)))) \
			STAP_PROBE1(otel_memory, free, (p));                 \
	} while (0)

/* malloc, calloc and realloc are split so that their common path, an
 * unsampled call, needs no frame: a test, a TLS decrement and a jump into
 * the next allocator. Calls before resolve() and sampled calls go to the
 * cold functions below it, themselves entered by a jump (so the caller's
 * frame is still the one under their probe). */
static __attribute__((noinline, cold)) void *malloc_boot(size_t n)
{
	if (resolving)
		return boot_alloc(n);
	resolve();
	return malloc(n);
}

static __attribute__((noinline, cold)) void *malloc_sampled(size_t n)
{
	void *p = real_malloc(n);

	SAMPLED(p, n);
	return p;
}

EXPORT void *malloc(size_t n)
{
	if (unlikely(!real_malloc))
		return malloc_boot(n);
	if (UNSAMPLED(n))
		return real_malloc(n);
	return malloc_sampled(n);
}

static __attribute__((noinline, cold)) void *calloc_boot(size_t k, size_t n)
{
	size_t bytes;

	if (resolving)
		return __builtin_mul_overflow(k, n, &bytes) ? NULL
							     : boot_alloc(bytes);
	resolve();
	return calloc(k, n);
}

static __attribute__((noinline, cold)) void *calloc_sampled(size_t k,
							     size_t n,
							     size_t bytes)
{
	void *p = real_calloc(k, n);

	SAMPLED(p, bytes);
	return p;
}

EXPORT void *calloc(size_t k, size_t n)
{
	size_t bytes;

	if (unlikely(!real_malloc))
		return calloc_boot(k, n);
	if (__builtin_mul_overflow(k, n, &bytes))
		bytes = 0;	/* the next calloc fails it */
	if (UNSAMPLED(bytes))
		return real_calloc(k, n);
	return calloc_sampled(k, n, bytes);
}

EXPORT void free(void *p)
{
	if (unlikely(is_boot(p)))
		return;
	SAMPLE_FREE(p);
	if (unlikely(!real_free))
		resolve();
	real_free(p);
}

/* realloc before resolve(), or of a block from boot[]. */
static __attribute__((noinline, cold)) void *realloc_boot(void *old, size_t n)
{
	size_t avail;
	void *p;

	if (resolving)
		return boot_alloc(n);
	if (!real_malloc)
		resolve();
	if (!is_boot(old))
		return realloc(old, n);
	avail = (size_t)(boot + sizeof(boot) - (char *)old);
	p = real_malloc(n);
	if (p)
		memcpy(p, old, n < avail ? n : avail);
	return p;
}

static __attribute__((noinline, cold)) void *realloc_sampled(void *old,
							      size_t n)
{
	void *p = real_realloc(old, n);

	if (p)
		SAMPLED(p, n);
	return p;
}

/* A sampled block given to realloc is freed as far as the profile goes
 * (whether or not it moves), and the result is a new sampling decision. A
 * failed realloc leaves the block allocated but no longer sampled: in-use
 * may miss it, it never shows as a false leak. */
EXPORT void *realloc(void *old, size_t n)
{
	if (unlikely(!real_malloc || is_boot(old)))
		return realloc_boot(old, n);
	SAMPLE_FREE(old);
	if (UNSAMPLED(n))
		return real_realloc(old, n);
	return realloc_sampled(old, n);
}

EXPORT void *reallocarray(void *old, size_t k, size_t n)
{
	size_t bytes;

	if (__builtin_mul_overflow(k, n, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, bytes);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int err;

	if (unlikely(!real_malloc))
		resolve();
	if (UNSAMPLED(n))
		return real_posix_memalign(out, align, n);
	err = real_posix_memalign(out, align, n);
	if (!err)
		SAMPLED(*out, n);
	return err;
}

/* The wrappers below exist only where the next allocator has the
 * function; a missing one fails with ENOMEM. */
#define WRAPPER(name, real, params, args, size)                              \
	EXPORT void *name params                                             \
	{                                                                    \
		void *p;                                                     \
		if (unlikely(!real_malloc))                                  \
			resolve();                                           \
		if (!real) {                                                 \
			errno = ENOMEM;                                      \
			return NULL;                                         \
		}                                                            \
		if (UNSAMPLED(size))                                         \
			return real args;                                    \
		p = real args;                                               \
		SAMPLED(p, size);                                            \
		return p;                                                    \
	}

WRAPPER(aligned_alloc, real_aligned_alloc, (size_t align, size_t n),
	(align, n), n)
WRAPPER(memalign, real_memalign, (size_t align, size_t n), (align, n), n)
WRAPPER(valloc, real_valloc, (size_t n), (n), n)
WRAPPER(pvalloc, real_pvalloc, (size_t n), (n), n)

/* --- C++ operators --------------------------------------------------------
 * libstdc++'s operators call malloc and free, but jemalloc's, tcmalloc's and
 * mimalloc's do not: a C++ program on them would bypass us. So the
 * operators are ours too (Itanium names; size_t is 'm', std::align_val_t
 * 'St11align_val_t', std::nothrow_t 'RKSt9nothrow_t'), on the next
 * allocator's malloc/posix_memalign and free. A failed allocation is
 * retried by the next operator of the same name, which runs the
 * new_handler and throws std::bad_alloc as the standard says (a C library
 * cannot throw). */
static void *next_op(void **cache, const char *sym)
{
	if (!*cache)
		*cache = dlsym(RTLD_NEXT, sym);
	return *cache;
}

static void *aligned_next(size_t align, size_t n)
{
	void *p = NULL;

	if (align < sizeof(void *))
		align = sizeof(void *);
	return real_posix_memalign(&p, align, n) ? NULL : p;
}

#define NEW_OP(sym, params, alloc, retry_type, retry_args)                  \
	EXPORT void *sym params                                              \
	{                                                                    \
		static void *next;                                           \
		void *p;                                                     \
		bool sampled_;                                               \
		if (unlikely(!real_malloc))                                  \
			resolve();                                           \
		sampled_ = !UNSAMPLED(n);                                    \
		p = alloc;                                                   \
		if (unlikely(!p)) {                                          \
			retry_type fn = (retry_type)next_op(&next, #sym);    \
			if (!fn)                                             \
				abort();                                     \
			return fn retry_args;                                \
		}                                                            \
		if (unlikely(sampled_))                                      \
			SAMPLED(p, n);                                       \
		return p;                                                    \
	}

typedef void *(*new_fn)(size_t);
typedef void *(*new_nt_fn)(size_t, const void *);
typedef void *(*new_al_fn)(size_t, size_t);
typedef void *(*new_al_nt_fn)(size_t, size_t, const void *);

NEW_OP(_Znwm, (size_t n), real_malloc(n), new_fn, (n))
NEW_OP(_Znam, (size_t n), real_malloc(n), new_fn, (n))
NEW_OP(_ZnwmRKSt9nothrow_t, (size_t n, const void *nt), real_malloc(n),
       new_nt_fn, (n, nt))
NEW_OP(_ZnamRKSt9nothrow_t, (size_t n, const void *nt), real_malloc(n),
       new_nt_fn, (n, nt))
NEW_OP(_ZnwmSt11align_val_t, (size_t n, size_t al), aligned_next(al, n),
       new_al_fn, (n, al))
NEW_OP(_ZnamSt11align_val_t, (size_t n, size_t al), aligned_next(al, n),
       new_al_fn, (n, al))
NEW_OP(_ZnwmSt11align_val_tRKSt9nothrow_t,
       (size_t n, size_t al, const void *nt), aligned_next(al, n),
       new_al_nt_fn, (n, al, nt))
NEW_OP(_ZnamSt11align_val_tRKSt9nothrow_t,
       (size_t n, size_t al, const void *nt), aligned_next(al, n),
       new_al_nt_fn, (n, al, nt))

/* Every delete is a free: sizes and alignments are hints the next
 * allocator's free does not need. */
#define DELETE_OP(sym, params)                                               \
	EXPORT void sym params                                               \
	{                                                                    \
		free(p);                                                     \
	}

DELETE_OP(_ZdlPv, (void *p))
DELETE_OP(_ZdaPv, (void *p))
DELETE_OP(_ZdlPvm, (void *p, size_t n __attribute__((unused))))
DELETE_OP(_ZdaPvm, (void *p, size_t n __attribute__((unused))))
DELETE_OP(_ZdlPvRKSt9nothrow_t, (void *p, const void *nt __attribute__((unused))))
DELETE_OP(_ZdaPvRKSt9nothrow_t, (void *p, const void *nt __attribute__((unused))))
DELETE_OP(_ZdlPvSt11align_val_t, (void *p, size_t al __attribute__((unused))))
DELETE_OP(_ZdaPvSt11align_val_t, (void *p, size_t al __attribute__((unused))))
DELETE_OP(_ZdlPvmSt11align_val_t, (void *p, size_t n __attribute__((unused)),
				   size_t al __attribute__((unused))))
DELETE_OP(_ZdaPvmSt11align_val_t, (void *p, size_t n __attribute__((unused)),
				   size_t al __attribute__((unused))))
DELETE_OP(_ZdlPvSt11align_val_tRKSt9nothrow_t,
	  (void *p, size_t al __attribute__((unused)),
	   const void *nt __attribute__((unused))))
DELETE_OP(_ZdaPvSt11align_val_tRKSt9nothrow_t,
	  (void *p, size_t al __attribute__((unused)),
	   const void *nt __attribute__((unused))))

/* For programs that want to report the sampler's state: live samples,
 * samples refused because their bucket was full, and the mean in use. */
EXPORT void memtel_sampler_stats(uint64_t *live, uint64_t *overflow,
				 uint64_t *mean_bytes)
{
	if (live)
		*live = atomic_load(&sampled.live);
	if (overflow)
		*overflow = atomic_load(&sampled.overflow);
	if (mean_bytes)
		*mean_bytes = mean;
}
