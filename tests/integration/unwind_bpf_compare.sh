#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Unwinding in BPF (bpf/unwind.bpf.h) against libdwfl on the same
# workloads: at --sample-bytes 1, heapsites (every allocator entry point,
# many call sites) and deepchain (a chain through a shared library and a
# callback, -O2 without frame pointers) must give the same stacks with the
# same counts whether BPF unwound them or userspace did from the copied
# window (MEMTEL_BPF_UNWIND=0), and the BPF path must really have been
# taken (-v's "BPF unwind" line) with no walk falling back. samesp reaches
# malloc with one pc and stack pointer through two callers: BPF's cache of
# walks must not give one caller's stack to the other.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

HEAPSITES=$MEMTEL_WL_DIR/heapsites
DEEPCHAIN=$MEMTEL_WL_DIR/deepchain
SAMESP=$MEMTEL_WL_DIR/samesp

require_bpf
require_memtel
require_workloads
require_go

compare() { # NAME COMMAND...
	local name=$1 mode
	shift
	for mode in dwfl bpf; do
		if [ "$mode" = dwfl ]; then
			MEMTEL_BPF_UNWIND=0 run_memtel "$W/$name-$mode" 120 -v \
				--stack-bytes 16384 --sample-bytes 1 --no-cpu -o "$W/$name-$mode" -- "$@"
		else
			run_memtel "$W/$name-$mode" 120 -v --sample-bytes 1 \
				--no-cpu -o "$W/$name-$mode" -- "$@"
		fi
		assert_exit 0 "$name ($mode)"
		assert_no_sanitizer "$W/$name-$mode.err"
		assert_no_drops "$W/$name-$mode.out"
		assert_file "$W/$name-$mode/heap.pb.gz"
	done
	grep -q 'BPF unwind' "$W/$name-dwfl.err" &&
		fail "$name: MEMTEL_BPF_UNWIND=0 still loaded BPF tables"
	line=$(grep 'BPF unwind' "$W/$name-bpf.err") ||
		fail "$name: no BPF unwind line in -v output"
	log "$line"
	[[ $line =~ ([0-9]+)\ events\ unwound\ in\ BPF,\ ([0-9]+)\ lost\;\ ([0-9]+)\ walks\ failed ]] ||
		fail "$name: cannot read: $line"
	[ "${BASH_REMATCH[1]}" -gt 0 ] || fail "$name: no stack was unwound in BPF"
	[ "${BASH_REMATCH[2]}" -eq 0 ] || fail "$name: stacks lost: $line"
	[ "${BASH_REMATCH[3]}" -eq 0 ] || fail "$name: walks fell back: $line"
	python3 - "$MEMTEL_ROOT/tests/lib" "$W/$name-dwfl/heap.pb.gz" \
		"$W/$name-bpf/heap.pb.gz" >"$W/$name.cmp" 2>&1 <<'PY' ||
import collections, sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

def folded(path):
    p = pprof_raw.load(path)
    i = p.type_names().index("alloc_objects")
    out = collections.Counter()
    for vals, frames in p.stacks():
        out[";".join(reversed(frames))] += vals[i]
    return out

a, b = folded(sys.argv[2]), folded(sys.argv[3])
n = len(set(a) | set(b))
# libdwfl stops where the copied window ends (printf's frames are big);
# BPF reads the stack itself: its stack may go on to the root, nothing
# else may differ.
longer = 0
for k in sorted(a):
    if a[k] == b[k]:
        continue
    for K in sorted(b):
        if K.endswith(";" + k) and b[K] > a.get(K, 0) and a[k] > b[k]:
            moved = min(a[k] - b[k], b[K] - a.get(K, 0))
            a[k] -= moved
            a[K] += moved
            longer += moved
bad = 0
for k in sorted(set(a) | set(b)):
    if a[k] != b[k]:
        bad += 1
        print("libdwfl %d, BPF %d: %s" % (a[k], b[k], k))
print("%d stacks, %d differ, %d samples longer in BPF" % (n, bad, longer))
sys.exit(1 if bad or not a else 0)
PY
		fail "$name: stacks differ: $(tail -20 "$W/$name.cmp")"
	log "$name: $(tail -1 "$W/$name.cmp")"
}

compare heapsites "$HEAPSITES"
compare deepchain "$DEEPCHAIN" --heap --count 3000
compare samesp "$SAMESP"
grep -q 'via_b' "$W/samesp.cmp" && fail "samesp: $(cat "$W/samesp.cmp")"
log "BPF and libdwfl stacks agree"
