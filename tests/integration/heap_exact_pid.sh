#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Exact heap profile of a running process (--pid, --sample-bytes 1): every
# site's alloc/in-use objects and bytes must equal what heapsites did, the
# leaf frame must be the site, no event may be dropped and no stack cut short
# (the calibration at start floods the ring, not the target). Ends on SIGINT
# while the target is still alive.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

"$HEAPSITES" --expect >"$W/expect.json" || fail "heapsites --expect"
start_heapsites "$W/target" --hold
start_memtel "$W/memtel" --pid "$TARGET_PID" --sample-bytes 1 -o "$W/prof"
kill -USR1 "$TARGET_PID"
wait_for_line "$W/target.out" '^done$' 60 "$TARGET_PID" || fail "heapsites did not finish"

kill -INT "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit within 60s of SIGINT"
assert_exit 0
alive "$TARGET_PID" || fail "target died while being profiled"
assert_no_sanitizer "$W/memtel.err"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"
check_profile exact "$W/prof/heap.pb.gz" "$W/expect.json"
# a few hundred allocations never fill the ring: no stack was cut short
# (the calibration child's flood at start is not the target's)
if grep -q 'stacks cut short' "$W/memtel.out"; then
	fail "the summary reports cut stacks: $(grep 'stacks cut short' "$W/memtel.out")"
fi
