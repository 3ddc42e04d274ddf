// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// cgoheap: a cgo workload for tests/integration/go_cgo.sh with both heaps:
// main.goAlloc allocates on Go's heap, and the loop calls C.malloc, so
// every block of either kind stays live until exit.
package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"unsafe"
)

var (
	keepGo [][]byte
	keepC  []unsafe.Pointer
)

//go:noinline
func goAlloc(n int) []byte {
	return make([]byte, n)
}

func main() {
	const n, size = 1000, 32 << 10
	for i := 0; i < n; i++ {
		keepGo = append(keepGo, goAlloc(size))
		keepC = append(keepC, C.malloc(C.size_t(size)))
	}
	// referencing the heap profile keeps Go's memory profiler linked in
	pprof.WriteHeapProfile(io.Discard)
	fmt.Printf("go %d c %d\n", n*size, n*size)
	runtime.KeepAlive(keepGo)
	runtime.KeepAlive(keepC)
}
