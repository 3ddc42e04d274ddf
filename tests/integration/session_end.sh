#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The other two ways a session ends while the target lives on: --duration
# runs out, and SIGTERM. Both write a complete profile and exit 0.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

"$HEAPSITES" --expect >"$W/expect.json" || fail "heapsites --expect"

# --duration: the target allocates right after attach, well within 6 s.
start_heapsites "$W/t1" --hold
start=$SECONDS
start_memtel "$W/dur" --pid "$TARGET_PID" --duration 6 --sample-bytes 1 -o "$W/prof-dur"
kill -USR1 "$TARGET_PID"
wait_for_line "$W/t1.out" '^done$' 60 "$TARGET_PID" || fail "heapsites did not finish"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf ran 60s past --duration 6"
assert_exit 0
elapsed=$((SECONDS - start))
[ "$elapsed" -ge 5 ] || fail "--duration 6 ended after ${elapsed}s"
alive "$TARGET_PID" || fail "target died"
assert_no_sanitizer "$W/dur.err"
assert_no_drops "$W/dur.out"
check_profile exact "$W/prof-dur/heap.pb.gz" "$W/expect.json"
kill -TERM "$TARGET_PID"

# SIGTERM.
LOGS=()
start_heapsites "$W/t2" --hold
start_memtel "$W/term" --pid "$TARGET_PID" --sample-bytes 1 -o "$W/prof-term"
kill -USR1 "$TARGET_PID"
wait_for_line "$W/t2.out" '^done$' 60 "$TARGET_PID" || fail "heapsites did not finish"
kill -TERM "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit within 60s of SIGTERM"
assert_exit 0
alive "$TARGET_PID" || fail "target died"
assert_no_sanitizer "$W/term.err"
assert_no_drops "$W/term.out"
check_profile exact "$W/prof-term/heap.pb.gz" "$W/expect.json"
