#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Launch mode parks a parent that waits for its children: while forker's
# child stays (3 s), the parent, blocked in wait(), has its heap
# probes detached (with -v one line says so), so the children's calls no
# longer run its probe consumers too. A signal, and the child's exit,
# attach them again before it can run. At --sample-bytes 1 what the parent
# allocates as it leaves its waits (signal_site on SIGUSR2, after_site as
# soon as its child is gone) is counted exactly, and only once (two links
# at a time would count it twice), as is the child's. forker ignores
# SIGCHLD, so no signal-delivery-stop precedes its return from the last
# wait: only the child's exit stop does.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

parked_re='^memtel-bpf: pid [0-9]+ waits for a child: heap probes parked'
start_memtel "$W/memtel" -v --sample-bytes 1 -o "$W/prof" -- \
	"$FORKER" --children 1 --child-ms 3000 --after --nocldwait
wait_for_line "$W/memtel.err" "$parked_re" 30 "$MEMTEL_PID" ||
	fail "the waiting parent was never parked"
parent=$(grep -E "$parked_re" "$W/memtel.err" | head -n 1 | sed 's/^memtel-bpf: pid \([0-9]*\) .*/\1/')
[ -n "$parent" ] || fail "no parked pid in the log"
kill -USR2 "$parent" || fail "cannot signal forker ($parent)"
wait_for_line "$W/memtel.out" '^signalled$' 10 "$MEMTEL_PID" ||
	fail "forker did not take the signal"
# it waits again: parked a second time before its child leaves
for ((i = 0; i < 100; i++)); do
	[ "$(grep -cE "^memtel-bpf: pid $parent waits for a child" "$W/memtel.err")" -ge 2 ] && break
	sleep 0.05
done
[ "$i" -lt 100 ] || fail "pid $parent was not parked again after the signal"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit after forker"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^done$' "$W/memtel.out" || fail "forker did not finish"
assert_no_drops "$W/memtel.out"
n=$(grep -c "^memtel-bpf: pid $parent: heap probes on again" "$W/memtel.err")
[ "$n" -ge 2 ] || fail "pid $parent got its probes back $n times, want 2 (the signal, the exit)"
grep -q '^partial' "$W/memtel.out" && fail "a parked wait made the profile partial: $(grep '^partial' "$W/memtel.out")"
c0=$(sed -n 's/^child 0 \([0-9]*\)$/\1/p' "$W/memtel.out")
[ -n "$c0" ] || fail "no child pid in the output"
assert_file "$W/prof/heap.pb.gz"
assert_site "$W/prof/heap.pb.gz" "$parent" parent_site "10 30000 10 30000"
assert_site "$W/prof/heap.pb.gz" "$parent" signal_site "5 20000 5 20000"
assert_site "$W/prof/heap.pb.gz" "$parent" after_site "8 16000 8 16000"
assert_site "$W/prof/heap.pb.gz" "$c0" child_site "20 20000 20 20000"
log "parent $parent parked twice, its allocations after each wait exact"
