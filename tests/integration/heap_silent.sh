#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Never silent. A target that makes no allocation call for whole export
# windows (sleep, after its startup) gets one line saying so and why,
# once for the streak, not once per window; a target that keeps
# allocating (leaker) gets no such line.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

MSG='no allocation calls seen in the last 1 s: the target may allocate through an allocator that is not probed'

run_memtel "$W/idle" 60 -d 5 --export-interval 1 -o "$W/idle" -- sleep 30
assert_exit 0
assert_no_sanitizer "$W/idle.err"
n=$(grep -c "^memtel-bpf: $MSG" "$W/idle.err")
[ "$n" = 1 ] || fail "idle target: expected the 'no allocation calls' line once in 5 windows, got $n"
grep -q '(statically linked? a custom arena?) or be idle$' "$W/idle.err" ||
	fail "the line does not give the likely causes: $(grep -m1 'no allocation' "$W/idle.err")"
log "idle target: said once, with the likely cause"

run_memtel "$W/busy" 60 -d 4 --export-interval 1 -o "$W/busy" -- \
	"$MEMTEL_WL_DIR/leaker" --seconds 30 --tick-ms 20
assert_exit 0
if grep -q 'no allocation calls seen' "$W/busy.err"; then
	fail "busy target: $(grep -m1 'no allocation calls' "$W/busy.err")"
fi
log "busy target: no such line"
