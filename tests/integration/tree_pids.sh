#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A repeated --pid profiles every process given (it used to keep the last):
# two running forkers, `--pid A --pid B`, each with its allocations exact
# under its own pid label; the session ends when both have exited.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

pids=()
for n in a b; do
	watch_log "$W/$n.out" "$W/$n.err"
	spawn "$W/$n.out" "$W/$n.err" "$FORKER" --children 0 --wait-signal
	pids+=("$SPAWN_PID")
	wait_for_line "$W/$n.out" '^ready [0-9]+$' 10 "$SPAWN_PID" || fail "forker $n did not start"
done
start_memtel "$W/memtel" --pid "${pids[0]}" --pid "${pids[1]}" --sample-bytes 1 -o "$W/prof"
wait_for_line "$W/memtel.err" '^memtel-bpf: attached; writing' 30 "$MEMTEL_PID" || fail "memtel-bpf did not finish attaching"
grep -q "heap probes .* in pid ${pids[1]} " "$W/memtel.err" || fail "second pid ${pids[1]} not attached"
kill -USR1 "${pids[@]}"
for p in "${pids[@]}"; do
	wait_exit "$p" 30 || fail "forker $p did not finish"
done
# both gone: the session ends by itself
wait_exit "$MEMTEL_PID" 30 || fail "memtel-bpf did not end after its targets exited"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q "target exited" "$W/memtel.out" || fail "the session did not end on its targets' exit"
assert_no_drops "$W/memtel.out"
for p in "${pids[@]}"; do
	assert_site "$W/prof/heap.pb.gz" "$p" parent_site "10 30000 10 30000"
done
