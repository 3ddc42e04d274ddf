// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)

// goheap: a pure Go workload for tests/integration/go_heap.sh. It burns CPU
// in main.burn for about a second, then allocates -count blocks of -size
// bytes in main.allocLive and keeps every -keep'th one live, forces a GC and
// writes the Go runtime's own heap profile (the ground truth the test
// compares with) to -profile. -rate sets runtime.MemProfileRate first;
// -wait-signal waits for SIGUSR1 (after printing "ready PID") so that a
// profiler can attach by pid first.
// Standard library only.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

var (
	keep [][]byte
	sink uint64
)

//go:noinline
func burn(d time.Duration) {
	x := uint64(88172645463325252)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 100000; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
	}
	sink = x
}

//go:noinline
func allocLive(n int) []byte {
	return make([]byte, n)
}

func main() {
	count := flag.Int("count", 2000, "blocks to allocate")
	size := flag.Int("size", 64<<10, "bytes per block")
	every := flag.Int("keep", 4, "keep every n-th block live")
	profile := flag.String("profile", "", "write Go's own heap profile here")
	rate := flag.Int("rate", 0, "set runtime.MemProfileRate (0: Go's default)")
	wait := flag.Bool("wait-signal", false, "print \"ready PID\", wait for SIGUSR1")
	flag.Parse()
	if *rate > 0 {
		runtime.MemProfileRate = *rate
	}
	if *wait {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGUSR1)
		fmt.Printf("ready %d\n", os.Getpid())
		<-ch
	}

	burn(time.Second)
	for i := 0; i < *count; i++ {
		b := allocLive(*size)
		b[0] = byte(i)
		if i%*every == 0 {
			keep = append(keep, b)
		}
	}
	// the profile's in-use values are as of the last completed GC
	runtime.GC()
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		f.Close()
	}
	fmt.Printf("live %d rate %d\n", len(keep)**size, runtime.MemProfileRate)
	runtime.KeepAlive(keep)
}
