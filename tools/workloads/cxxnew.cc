// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cxxnew.cc - a shared library with its own operator new/delete and no
 * malloc, as a pool or arena library might ship: the heap tests link
 * cxxalloc against it to check that memtel-bpf names a file that serves
 * operator new without being the probed allocator. These forward to
 * malloc/free, so the allocations are still counted.
 *
 * Built by the tests: g++ -O2 -shared -fPIC cxxnew.cc -o libcxxnew.so
 */
#include <cstdlib>
#include <new>

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
