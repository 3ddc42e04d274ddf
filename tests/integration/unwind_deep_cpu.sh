#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# CFI unwinding across a shared library, CPU side: deepchain --cpu spins in
# a6 at the end of main -> a1 -> a2 -> lib_b3 -> lib_b4 (libdeep.so) -> a5
# -> a6, all -O2 without frame pointers. Nearly all CPU samples must have a6
# as leaf (at a line of its spin loop), and each of those the whole chain
# with the call-site lines marked in the sources; cpu.folded must agree.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

DEEPCHAIN=$MEMTEL_WL_DIR/deepchain
DEEPCHECK=$MEMTEL_ROOT/tools/workloads/deepcheck.py

require_bpf
require_memtel
[ -x "$DEEPCHAIN" ] || fail "workloads not built: $DEEPCHAIN (make workloads)"
require_go

run_memtel "$W/memtel" 120 --no-heap -o "$W/prof" -- \
	"$DEEPCHAIN" --cpu --seconds 3
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^done ' "$W/memtel.out" || fail "deepchain did not run to the end"
assert_file "$W/prof/cpu.pb.gz"
assert_file "$W/prof/cpu.folded"
# a6 spins with a clock read every 4000 iterations: ~97% of samples end in
# a6 itself; the rest are in now_ns/vDSO or interrupts.
python3 "$DEEPCHECK" chain "$W/prof/cpu.pb.gz" cpu --min-share 0.7 \
	>"$W/check.out" 2>&1 || fail "CPU stack of a6: $(cat "$W/check.out")"
cat "$W/check.out"

# cpu.folded: root first, count last.
read -r chain total < <(awk '
	{ n = $NF; total += n }
	/(^|;)main;a1;a2;lib_b3;lib_b4;a5;a6 [0-9]+$/ { chain += n }
	END { print chain + 0, total + 0 }' "$W/prof/cpu.folded")
[ "$total" -gt 0 ] || fail "cpu.folded is empty"
[ $((chain * 10)) -ge $((total * 7)) ] ||
	fail "cpu.folded: only $chain of $total samples end in main;a1;a2;lib_b3;lib_b4;a5;a6"
log "cpu.folded: $chain of $total samples end in main;...;a5;a6"
