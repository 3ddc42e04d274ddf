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
 * fires otel_memory:free(ptr). Sampled blocks are allocated at an
 * alignment of hot.align (1 KiB at the default mean), so a free of a
 * pointer with any of those low bits set (98.6% of redis's frees) is
 * known unsampled from the pointer alone. An unsampled call costs a TLS
 * decrement and a compare (malloc) or a test against a mask (free); only
 * aligned pointers look in the set's 8 KiB filter. C++
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

/* The alignment of sampled blocks: the largest power of two <= mean /
 * ALIGN_DIV, at most ALIGN_MAX, or none below ALIGN_MIN. A sampled block
 * of n bytes then takes at most n + align - 1 (jemalloc rounds it to the
 * align size class), and a live sample stands for about mean bytes: at
 * most 1/ALIGN_DIV (0.2%) of the live heap more. 1 KiB because that is
 * where redis's frees stop being aligned by chance (measured on
 * redis-server 7.0 + jemalloc 5.3 under redis-benchmark set/get: 45% of
 * freed pointers are 64-aligned, 21% 256-aligned, 1.43% 1024-aligned and
 * the same 1.43% 8192-aligned: its page-sized buffers). */
#define ALIGN_DIV 512
#define ALIGN_MAX 1024
#define ALIGN_MIN 64
/* Sampled calloc and realloc results above this many bytes keep what the
 * next allocator gave (no zeroing or copy of a large block of ours, which
 * would also touch pages calloc may have left untouched): if misaligned,
 * they switch free's shortcut off while they live (hot.mask = 0). */
#define ALIGN_COPY_MAX (64 * 1024)

/* What free and realloc read on every call, in one cache line: the mask
 * of bits a sampled pointer has clear (0: look every pointer up, as
 * before resolve(), with alignment off, or while a misaligned sample
 * lives) and the next free. Written only at resolve() and under
 * misaligned_lock. */
static struct {
	_Atomic uintptr_t mask;
	void (*free)(void *);
	uintptr_t align_mask;	/* align - 1, or 0 when alignment is off */
} hot __attribute__((aligned(64)));

/* Live samples whose address is not a multiple of the alignment (the
 * next allocator's aligned path failed, or a large calloc/realloc). */
static atomic_flag misaligned_lock = ATOMIC_FLAG_INIT;
static uint64_t misaligned_live;

/* Per thread, in one cache line: bytes left until the next sample point,
 * the next allocator's entry points (copied at the thread's first call,
 * so malloc's common path reads no other line) and the generator.
 * initial-exec: a general-dynamic TLS access may itself call malloc. A
 * fresh thread's countdown is 0, so its first call takes the slow path,
 * which sets the rest up. */
struct tls {
	uint64_t countdown;
	void *(*malloc)(size_t);
	void *(*calloc)(size_t, size_t);
	void *(*realloc)(void *, size_t);
	uint64_t rng;
	int ready;
};
static __thread struct tls tl
	__attribute__((tls_model("initial-exec"), aligned(64)));

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
 * those calls get bump-allocated bytes from here, never freed. Each block
 * starts on a BOOT_ALIGN boundary (above ALIGN_MAX), so free and realloc
 * never take one for an unsampled pointer of the next allocator's and
 * always check is_boot(). */
#define BOOT_ALIGN 4096
static char boot[256 * 1024] __attribute__((aligned(BOOT_ALIGN)));
static size_t boot_used;
static int resolving;

static int is_boot(const void *p)
{
	return (const char *)p >= boot && (const char *)p < boot + sizeof(boot);
}

static void *boot_alloc(size_t n)
{
	size_t off = (boot_used + BOOT_ALIGN - 1) & ~(size_t)(BOOT_ALIGN - 1);

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

/* The alignment of sampled blocks for a mean (1: none). */
static uintptr_t align_for(uint64_t m)
{
	uintptr_t a = ALIGN_MAX;

	while (a >= ALIGN_MIN && a > m / ALIGN_DIV)
		a >>= 1;
	return a >= ALIGN_MIN ? a : 1;
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
	hot.free = real_free;
	hot.align_mask = real_posix_memalign ? align_for(mean) - 1 : 0;
	atomic_store_explicit(&hot.mask, hot.align_mask, memory_order_release);
}

__attribute__((constructor)) static void sampler_init(void)
{
	if (!real_malloc)
		resolve();
}

/* The calling thread's first call into us, after resolve(): its
 * generator, its first gap, the next allocator's entry points. */
static __attribute__((noinline, cold)) void thread_setup(void)
{
	tl.rng = (uint64_t)(uintptr_t)&tl ^
		 (atomic_fetch_add(&n_threads, 1) * 0xd1342543de82ef95ULL) ^
		 ((uint64_t)getpid() << 32);
	tl.countdown = (uint64_t)mts_next_gap(&tl.rng, mean);
	tl.malloc = real_malloc;
	tl.calloc = real_calloc;
	tl.realloc = real_realloc;
	tl.ready = 1;
}

/* The common path: n bytes before the next sample point, decided before
 * the call so that an unsampled allocation is a tail call into the next
 * allocator. A fresh thread's countdown is 0: its first call is never
 * "unsampled". Bytes of an allocation that then fails count toward the
 * gap too. */
#define UNSAMPLED(n)                                                         \
	likely(tl.countdown > (uint64_t)(n) ? (tl.countdown -= (n), 1) : 0)

/* UNSAMPLED(n) was false: is this call sampled? On a thread's first call
 * (after resolve()) the gap starts here and n is counted from it. */
static bool take_sample(size_t n)
{
	if (likely(tl.ready))
		return true;
	thread_setup();
	return !UNSAMPLED(n);
}

/* misaligned_live changed by d: free's shortcut is off while it is > 0. */
static __attribute__((noinline, cold)) void misaligned_add(int d)
{
	while (atomic_flag_test_and_set_explicit(&misaligned_lock,
						 memory_order_acquire))
		;
	misaligned_live += d;
	atomic_store(&hot.mask, misaligned_live ? 0 : hot.align_mask);
	atomic_flag_clear_explicit(&misaligned_lock, memory_order_release);
}

/* p came back for a sampled call of n bytes: remember it and return its
 * weighted bytes, or 0 if it cannot be sampled. */
static __attribute__((noinline, cold)) uint64_t sample(void *p, size_t n)
{
	bool misaligned;

	tl.countdown = (uint64_t)mts_next_gap(&tl.rng, mean);
	if (!p)
		return 0;
	misaligned = ((uintptr_t)p & hot.align_mask) != 0;
	if (misaligned)
		misaligned_add(1);	/* before p is known: its free looks */
	if (!mts_set_insert(&sampled, (uintptr_t)p)) {
		if (misaligned)
			misaligned_add(-1);
		return 0;
	}
	return mts_weight(n, mean);
}

/* The probe itself sits in each interposed function (or a cold function
 * entered by a jump), so the frame under it is the caller's. */
#define SAMPLED(p, n)                                                        \
	do {                                                                 \
		uint64_t w_ = sample((p), (n));                              \
		if (w_)                                                      \
			STAP_PROBE3(otel_memory, alloc, (p), (uint64_t)(n),  \
				    w_);                                     \
	} while (0)

/* p may be sampled (its low bits are clear, or the shortcut is off). */
#define SAMPLE_FREE(p)                                                       \
	do {                                                                 \
		if ((p) &&                                                   \
		    unlikely(mts_set_remove(&sampled, (uintptr_t)(p)))) {    \
			STAP_PROBE1(otel_memory, free, (p));                 \
			if ((uintptr_t)(p) & hot.align_mask)                 \
				misaligned_add(-1);                          \
		}                                                            \
	} while (0)

/* The alignment a sampled block of an aligned call asks for: at least
 * ours, when align is one posix_memalign takes (a power of two multiple
 * of sizeof(void *)); anything else goes to the next allocator as is. */
static size_t sampled_align(size_t align)
{
	size_t a = hot.align_mask + 1;

	if (!align || (align & (align - 1)))
		return align;
	return align > a ? align : a;
}

/* n bytes for a sampled call, at the sampled alignment where possible. */
static void *alloc_sampled(size_t n)
{
	void *p = NULL;

	if (hot.align_mask && !real_posix_memalign(&p, hot.align_mask + 1, n))
		return p;
	return real_malloc(n);
}

/* malloc, calloc and realloc are split so that their common path, an
 * unsampled call, needs no frame: a TLS decrement and a jump into the
 * next allocator. Calls before resolve(), a thread's first call and
 * sampled calls go to the cold functions, themselves entered by a jump
 * (so the caller's frame is still the one under their probe). */
static __attribute__((noinline, cold)) void *malloc_slow(size_t n)
{
	void *p;

	if (unlikely(!real_malloc)) {
		if (resolving)
			return boot_alloc(n);
		resolve();
	}
	if (!take_sample(n))
		return real_malloc(n);
	p = alloc_sampled(n);
	SAMPLED(p, n);
	return p;
}

EXPORT void *malloc(size_t n)
{
	if (UNSAMPLED(n))
		return tl.malloc(n);
	return malloc_slow(n);
}

static __attribute__((noinline, cold)) void *calloc_slow(size_t k, size_t n,
							  size_t bytes)
{
	void *p = NULL;

	if (unlikely(!real_malloc)) {
		if (resolving)
			return __builtin_mul_overflow(k, n, &bytes)
				       ? NULL
				       : boot_alloc(bytes);
		resolve();
	}
	if (__builtin_mul_overflow(k, n, &bytes) || !take_sample(bytes))
		return real_calloc(k, n);	/* the next calloc fails it */
	if (hot.align_mask && bytes <= ALIGN_COPY_MAX &&
	    !real_posix_memalign(&p, hot.align_mask + 1, bytes))
		memset(p, 0, bytes);
	else
		p = real_calloc(k, n);
	SAMPLED(p, bytes);
	return p;
}

EXPORT void *calloc(size_t k, size_t n)
{
	size_t bytes;

	if (__builtin_mul_overflow(k, n, &bytes))
		bytes = 0;	/* the next calloc fails it */
	if (UNSAMPLED(bytes))
		return tl.calloc(k, n);
	return calloc_slow(k, n, bytes);
}

/* Free's common path reads one cache line and no TLS: a pointer with a
 * bit of hot.mask set was not allocated by a sampled call. The others
 * (aligned ones, NULL, boot[] blocks, every pointer while the mask is 0)
 * are looked up. */
static __attribute__((noinline, cold)) void free_slow(void *p)
{
	if (!p || is_boot(p))
		return;
	SAMPLE_FREE(p);
	if (unlikely(!real_free))
		resolve();
	real_free(p);
}

EXPORT void free(void *p)
{
	if (likely((uintptr_t)p &
		   atomic_load_explicit(&hot.mask, memory_order_acquire)))
		return hot.free(p);
	free_slow(p);
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

/* old is not sampled (any more) and UNSAMPLED(n) was false. A sampled
 * result the next realloc left misaligned is moved to an aligned block
 * when small (a copy of at most ALIGN_COPY_MAX bytes per sample). */
static __attribute__((noinline, cold)) void *realloc_sampled(void *old,
							      size_t n)
{
	void *p, *q = NULL;

	if (!take_sample(n))
		return real_realloc(old, n);
	p = real_realloc(old, n);
	if (!p)
		return p;
	if (((uintptr_t)p & hot.align_mask) && n <= ALIGN_COPY_MAX &&
	    !real_posix_memalign(&q, hot.align_mask + 1, n)) {
		memcpy(q, p, n);
		real_free(p);
		p = q;
	}
	SAMPLED(p, n);
	return p;
}

/* old may be sampled, NULL or from boot[]; or nothing is resolved yet. */
static __attribute__((noinline, cold)) void *realloc_slow(void *old, size_t n)
{
	if (unlikely(!real_malloc || is_boot(old)))
		return realloc_boot(old, n);
	SAMPLE_FREE(old);
	if (UNSAMPLED(n))
		return real_realloc(old, n);
	return realloc_sampled(old, n);
}

/* A sampled block given to realloc is freed as far as the profile goes
 * (whether or not it moves), and the result is a new sampling decision. A
 * failed realloc leaves the block allocated but no longer sampled: in-use
 * may miss it, it never shows as a false leak. */
EXPORT void *realloc(void *old, size_t n)
{
	if (unlikely(!((uintptr_t)old &
		       atomic_load_explicit(&hot.mask, memory_order_acquire))))
		return realloc_slow(old, n);
	if (UNSAMPLED(n))
		return tl.realloc(old, n);
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
	if (UNSAMPLED(n) || !take_sample(n))
		return real_posix_memalign(out, align, n);
	err = real_posix_memalign(out, sampled_align(align), n);
	if (!err)
		SAMPLED(*out, n);
	return err;
}

/* The wrappers below exist only where the next allocator has the
 * function; a missing one fails with ENOMEM. A sampled call asks for the
 * sampled alignment (aligned_alloc, memalign) or gets pages anyway. */
#define WRAPPER(name, real, params, args, sargs, size)                       \
	EXPORT void *name params                                             \
	{                                                                    \
		void *p;                                                     \
		if (unlikely(!real_malloc))                                  \
			resolve();                                           \
		if (!real) {                                                 \
			errno = ENOMEM;                                      \
			return NULL;                                         \
		}                                                            \
		if (UNSAMPLED(size) || !take_sample(size))                   \
			return real args;                                    \
		p = real sargs;                                              \
		SAMPLED(p, size);                                            \
		return p;                                                    \
	}

WRAPPER(aligned_alloc, real_aligned_alloc, (size_t align, size_t n),
	(align, n), (sampled_align(align), n), n)
WRAPPER(memalign, real_memalign, (size_t align, size_t n), (align, n),
	(sampled_align(align), n), n)
WRAPPER(valloc, real_valloc, (size_t n), (n), (n), n)
WRAPPER(pvalloc, real_pvalloc, (size_t n), (n), (n), n)

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

#define NEW_OP(sym, params, alloc, salloc, retry_type, retry_args)          \
	EXPORT void *sym params                                              \
	{                                                                    \
		static void *next;                                           \
		void *p;                                                     \
		bool sampled_;                                               \
		if (unlikely(!real_malloc))                                  \
			resolve();                                           \
		sampled_ = !UNSAMPLED(n) && take_sample(n);                  \
		p = sampled_ ? salloc : alloc;                               \
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

NEW_OP(_Znwm, (size_t n), real_malloc(n), alloc_sampled(n), new_fn, (n))
NEW_OP(_Znam, (size_t n), real_malloc(n), alloc_sampled(n), new_fn, (n))
NEW_OP(_ZnwmRKSt9nothrow_t, (size_t n, const void *nt), real_malloc(n), alloc_sampled(n),
       new_nt_fn, (n, nt))
NEW_OP(_ZnamRKSt9nothrow_t, (size_t n, const void *nt), real_malloc(n), alloc_sampled(n),
       new_nt_fn, (n, nt))
NEW_OP(_ZnwmSt11align_val_t, (size_t n, size_t al), aligned_next(al, n),
       aligned_next(sampled_align(al), n), new_al_fn, (n, al))
NEW_OP(_ZnamSt11align_val_t, (size_t n, size_t al), aligned_next(al, n),
       aligned_next(sampled_align(al), n), new_al_fn, (n, al))
NEW_OP(_ZnwmSt11align_val_tRKSt9nothrow_t,
       (size_t n, size_t al, const void *nt), aligned_next(al, n),
       aligned_next(sampled_align(al), n), new_al_nt_fn, (n, al, nt))
NEW_OP(_ZnamSt11align_val_tRKSt9nothrow_t,
       (size_t n, size_t al, const void *nt), aligned_next(al, n),
       aligned_next(sampled_align(al), n), new_al_nt_fn, (n, al, nt))

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
