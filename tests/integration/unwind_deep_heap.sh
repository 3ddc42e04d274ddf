#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# CFI unwinding across a shared library, heap side: deepchain (-O2, no frame
# pointers) mallocs at the end of main -> a1 -> a2 -> lib_b3 -> lib_b4
# (libdeep.so) -> a5 (a callback) -> a6. Every sample of a6's malloc must
# show all seven frames, in order, each with the line of its call site as
# marked `LINE:name` in tools/workloads/deepchain.c and libdeep.c.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

DEEPCHAIN=$MEMTEL_WL_DIR/deepchain
DEEPCHECK=$MEMTEL_ROOT/tools/workloads/deepcheck.py
COUNT=100

require_bpf
require_memtel
[ -x "$DEEPCHAIN" ] || fail "workloads not built: $DEEPCHAIN (make workloads)"
require_go

run_memtel "$W/memtel" 120 --sample-bytes 1 --no-cpu -o "$W/prof" -- \
	"$DEEPCHAIN" --heap --count "$COUNT"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^done ' "$W/memtel.out" || fail "deepchain did not run to the end"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"
# --count: all COUNT allocations of a6 are in samples with the full stack.
python3 "$DEEPCHECK" chain "$W/prof/heap.pb.gz" heap --count "$COUNT" \
	>"$W/check.out" 2>&1 || fail "heap stack of a6: $(cat "$W/check.out")"
cat "$W/check.out"
