// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cxxinline - a C++ workload for symbolization: a method of a class
 * template in a namespace (ns::Widget<int>), and always_inline functions
 * that exist only as inlined code in their callers.
 *
 *   cxxinline --heap [N]      main -> ns::Widget<int>::build(unsigned long)
 *                             -> ns::make_blob (inlined) -> ns::Blob::create
 *                             (inlined) -> operator new, N times (default
 *                             100), blocks kept
 *   cxxinline --cpu [S]       main -> ns::Widget<int>::spin(double)
 *                             -> ns::Widget<int>::mix (inlined: the hot
 *                             loop), for S seconds (default 3)
 *
 * Not built by the Makefile (it builds C only): tests/integration/
 * unwind_cxx.sh compiles it with g++ -O2 -g -fomit-frame-pointer. The
 * `LINE:name` comments mark the lines a profile must show; the test reads
 * them from this file, so keep each call and its marker on one line.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace ns {

struct Blob {
	explicit Blob(unsigned long v) : n(v) { std::memset(data, 0, sizeof(data)); }

	/* Inlined into make_blob, itself inlined: two inline levels. */
	static inline __attribute__((always_inline)) Blob *create(unsigned long v)
	{
		return new Blob(v); /* LINE:create_new */
	}

	unsigned long n;
	char data[1992];
};

Blob *volatile blob_sink;
volatile unsigned long spin_sink;

static __attribute__((noinline)) unsigned long long now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Inlined into Widget<T>::build: only an inline frame of its location. */
static inline __attribute__((always_inline)) Blob *make_blob(unsigned long n)
{
	return Blob::create(n * 2); /* LINE:make_blob_call */
}

template <typename T>
class Widget {
public:
	/* noipa: no clone may rename them ("[clone .isra.0]"). */
	__attribute__((noipa)) Blob *build(unsigned long n);
	__attribute__((noipa)) T spin(double seconds);

private:
	/* Inlined into spin, where nearly all CPU time is spent; a member,
	 * so DWARF has its linkage name. */
	static inline __attribute__((always_inline)) unsigned long mix(unsigned long x)
	{
		for (int i = 0; i < 4000; i++) /* LINE:mix_begin */
			x = x * 6364136223846793005UL + 1442695040888963407UL;
		return x; /* LINE:mix_end */
	}

	T state_ = 1;
};

template <typename T>
Blob *Widget<T>::build(unsigned long n)
{
	Blob *b = make_blob(n + state_); /* LINE:build_call */

	asm volatile("" ::: "memory");	/* not a tail call */
	return b;
}

template <typename T>
T Widget<T>::spin(double seconds)
{
	unsigned long long end = now_ns() + (unsigned long long)(seconds * 1e9);
	unsigned long x = state_;

	do {
		x = mix(x); /* LINE:spin_call */
	} while (now_ns() < end);
	spin_sink = x;
	return (T)x;
}

} // namespace ns

int main(int argc, char **argv)
{
	ns::Widget<int> w;

	if (argc >= 2 && !std::strcmp(argv[1], "--heap")) {
		unsigned long n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 100;

		for (unsigned long i = 0; i < n; i++) {
			ns::blob_sink = w.build(i); /* LINE:main_build */
			asm volatile("" ::: "memory");
		}
	} else if (argc >= 2 && !std::strcmp(argv[1], "--cpu")) {
		double s = argc > 2 ? std::strtod(argv[2], nullptr) : 3;
		int r = w.spin(s); /* LINE:main_spin */

		asm volatile("" ::: "memory");
		std::printf("spin %d\n", r & 1);
	} else {
		std::fprintf(stderr, "usage: cxxinline --heap [N] | --cpu [SECONDS]\n");
		return 2;
	}
	std::printf("done\n");
	return 0;
}
