#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A cgo program (tools/workloads/go/cgoheap, built here) allocates 1000
# blocks of 32 KiB on each heap: main.goAlloc on Go's, C.malloc on libc's.
# Both heaps appear in heap.pb.gz, told apart by the leaf: the Go site is
# main.goAlloc, the C one cgo's C.malloc wrapper (_cgo_..._Cfunc__Cmalloc).
# The C stacks continue past runtime.asmcgocall (cgo's switch to the system
# stack) into the Go callers, and Go code is placed in its own source
# file, not in a C unit's.
# The C heap is sampled by memtel-bpf (--sample-bytes 1: exact), the Go heap
# by the Go runtime (estimate: 1000 blocks of 32 KiB at 512 KiB give ~61
# samples, 12% relative error; 40% is over 3 sigma).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go
command -v gcc >/dev/null || fail "gcc not installed (cgo)"
build_go cgoheap 1

run_memtel "$W/memtel" 120 --sample-bytes 1 -o "$W/prof" -- "$W/cgoheap"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^go ' "$W/memtel.out" || fail "cgoheap did not run to the end"
grep -q 'attached 2 Go runtime heap probes' "$W/memtel.err" ||
	fail "the Go runtime probes were not attached"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"

python3 - "$MEMTEL_ROOT/tests/lib" "$W/prof/heap.pb.gz" \
	>"$W/check.out" 2>&1 <<'PY' || fail "$(cat "$W/check.out")"
import sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

want = 1000 * 32 * 1024
p = pprof_raw.load(sys.argv[2])
leaves = p.by_leaf_named()
# C code runs on the system stack cgo switched to: its stacks go on from
# runtime.asmcgocall into the goroutine's, down to main.main
for _, frames in p.stacks():
    if frames and "Cfunc__Cmalloc" in frames[0]:
        if ("runtime.asmcgocall.abi0" not in frames or
                "runtime.cgocall" not in frames or "main.main" not in frames or
                frames[-1] != "runtime.goexit.abi0"):
            sys.exit("C heap stack stops short of its Go callers: %s" % frames)
# file:line of Go code in a cgo binary (its .debug_aranges cover only C)
for vals, locs, _ in p.samples:
    fn, file, line = p.locations[locs[0]]["lines"][0]
    if fn == "main.goAlloc" and not file.endswith("main.go"):
        sys.exit("main.goAlloc placed in %s:%d" % (file, line))
go = leaves.get("main.goAlloc")
c = [v for k, v in leaves.items() if "Cfunc__Cmalloc" in k]
if not go:
    sys.exit("no main.goAlloc leaf (Go heap); leaves: %s" % sorted(leaves))
if not c:
    sys.exit("no C.malloc leaf (C heap); leaves: %s" % sorted(leaves))
cin = sum(v["inuse_space"] for v in c)
print("Go heap main.goAlloc inuse %d, C heap C.malloc inuse %d, kept %d each"
      % (go["inuse_space"], cin, want))
if cin != want:
    sys.exit("C heap: expected exactly %d bytes in use" % want)
if abs(go["inuse_space"] - want) > 0.4 * want:
    sys.exit("Go heap estimate more than 40% off")
PY
cat "$W/check.out"
log "cgo heaps ok"
