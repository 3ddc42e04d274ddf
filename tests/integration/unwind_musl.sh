#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Allocators without CFI: a static musl binary (musl-gcc -static -O2 -g
# -fomit-frame-pointer; musl's malloc has no CFI, the program's code has)
# allocates through main -> top_alloc -> mid_alloc -> leaf_alloc. Every
# heap sample must carry the whole chain: the unwinder continues from the
# return address at the allocator's entry instead of stopping there.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

COUNT=1000

require_bpf
require_memtel
require_go
command -v musl-gcc >/dev/null || fail "musl-gcc not installed (musl-tools)"

musl-gcc -static -O2 -g -fomit-frame-pointer -o "$W/muslchain" \
	"$MEMTEL_ROOT/tools/workloads/musl/muslchain.c" || fail "musl-gcc failed"

run_memtel "$W/memtel" 60 --sample-bytes 1 --no-cpu -o "$W/prof" -- \
	"$W/muslchain" "$COUNT"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"

python3 - "$MEMTEL_ROOT/tests/lib" "$W/prof/heap.pb.gz" "$COUNT" \
	>"$W/check.out" 2>&1 <<'PY' || fail "$(cat "$W/check.out")"
import sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

p = pprof_raw.load(sys.argv[2])
count = int(sys.argv[3])
want = ["leaf_alloc", "mid_alloc", "top_alloc", "main"]
i = p.type_names().index("alloc_objects")
full = short = 0
for vals, frames in p.stacks():
    if frames[:4] == want:
        full += vals[i]
    else:
        short += vals[i]
        print("short stack: %s" % " <- ".join(frames))
print("allocations with the full chain: %d of %d" % (full, full + short))
if full != count or short:
    sys.exit("expected all %d allocations with %s" % (count, " <- ".join(want)))
PY
cat "$W/check.out"
log "musl stacks ok"
