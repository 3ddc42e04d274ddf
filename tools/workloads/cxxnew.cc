// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cxxnew.cc - a shared library with its own operator new/delete and no
 * malloc, as a pool or arena library might ship: the heap tests link
 * cxxalloc against it.
 *
 * By default these forward to malloc/free, as a static libstdc++ does
 * (g++'s own cc1plus): the allocations reach the probed malloc, are
 * counted, and memtel-bpf must not warn. With -DCXXNEW_ARENA operator new
 * serves from an mmap'ed arena of its own and never calls malloc: those
 * allocations are invisible to malloc probes, and memtel-bpf must name
 * the file in a warning.
 *
 * Built by the tests: g++ -O2 -shared -fPIC [-DCXXNEW_ARENA] cxxnew.cc
 * -o libcxxnew.so
 */
#include <cstdlib>
#include <new>

#ifdef CXXNEW_ARENA
#include <sys/mman.h>

/* a bump arena, never given back: enough for cxxalloc's operator new */
static char *arena, *arena_end;

void *operator new(std::size_t n)
{
	n = (n + 15) & ~static_cast<std::size_t>(15);
	if (!arena) {
		std::size_t len = std::size_t(1) << 30;
		void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (m == MAP_FAILED)
			throw std::bad_alloc();
		arena = static_cast<char *>(m);
		arena_end = arena + len;
	}
	if (n > static_cast<std::size_t>(arena_end - arena))
		throw std::bad_alloc();
	arena += n;
	return arena - n;
}

void operator delete(void *) noexcept
{
}

void operator delete(void *, std::size_t) noexcept
{
}
#else
void *operator new(std::size_t n)
{
	void *p = std::malloc(n ? n : 1);

	if (!p)
		throw std::bad_alloc();
	return p;
}

void operator delete(void *p) noexcept
{
	std::free(p);
}

void operator delete(void *p, std::size_t) noexcept
{
	std::free(p);
}
#endif
