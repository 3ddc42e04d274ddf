#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A --pid target that exits mid-session ends the session: memtel-bpf still
# writes the profile (exact: in-use is what was never freed) and exits 0,
# long before --duration. Without -o the profile goes to a new directory
# memtel-PID-TIMESTAMP/ in the current directory.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

"$HEAPSITES" --expect >"$W/expect.json" || fail "heapsites --expect"
mkdir "$W/cwd"
start_heapsites "$W/target"
cd "$W/cwd" || fail "cd"
start_memtel "$W/memtel" --pid "$TARGET_PID" --duration 300 --sample-bytes 1
cd - >/dev/null || fail "cd"
kill -USR1 "$TARGET_PID"
wait_exit "$TARGET_PID" 60 || fail "heapsites did not exit"
assert_exit 0 heapsites

wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf still running 60s after its target exited"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
assert_no_drops "$W/memtel.out"

dirs=("$W/cwd/memtel-$TARGET_PID-"*)
[ -d "${dirs[0]}" ] || fail "no memtel-$TARGET_PID-* directory in the cwd: $(ls -A "$W/cwd")"
[ "${#dirs[@]}" -eq 1 ] || fail "several output directories: ${dirs[*]}"
log "profile directory: ${dirs[0]##*/}"
[ "$(find "$W/cwd" -mindepth 1 -maxdepth 1 | wc -l)" -eq 1 ] || fail "stray files in the cwd: $(ls -A "$W/cwd")"
assert_file "${dirs[0]}/heap.pb.gz"
check_profile exact "${dirs[0]}/heap.pb.gz" "$W/expect.json"
