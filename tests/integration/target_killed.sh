#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A target SIGKILLed mid-run (no exit of its own, no chance to free):
#  - by --pid: memtel-bpf notices within seconds, long before --duration,
#    exits 0 and writes a heap profile that go tool pprof reads, naming
#    the leaking site with what was live when the target died;
#  - launched with --: the same, the summary says how the target ended.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker
require_go

check_profile() { # NAME
	local prof=$W/$1.prof
	assert_file "$prof/heap.pb.gz"
	pprof -top -sample_index=inuse_space "$prof/heap.pb.gz" >"$W/$1.top" 2>&1 ||
		fail "$1: go tool pprof cannot read heap.pb.gz: $(tail -n 2 "$W/$1.top")"
	grep -q 'leak_steady' "$W/$1.top" ||
		fail "$1: the in-use profile does not name leak_steady: $(head -n 12 "$W/$1.top")"
}

# --- by pid --------------------------------------------------------------------
watch_log "$W/t1.out" "$W/t1.err"
spawn "$W/t1.out" "$W/t1.err" "$LEAKER" --seconds 60
TPID=$SPAWN_PID
start_memtel "$W/pid" --pid "$TPID" --duration 120 --sample-bytes 1 --no-cpu \
	-o "$W/pid.prof"
sleep 2
kill -KILL "$TPID"
t0=$SECONDS
wait_exit "$MEMTEL_PID" 30 || fail "pid: memtel-bpf still running 30 s after its target was killed"
log "pid: memtel-bpf ended $((SECONDS - t0)) s after the SIGKILL"
assert_exit 0
assert_no_sanitizer "$W/pid.err"
check_profile pid

# --- launched ------------------------------------------------------------------
start_memtel "$W/launch" --duration 120 --sample-bytes 1 --no-cpu -o "$W/launch.prof" -- \
	"$LEAKER" --seconds 60
sleep 2
CPID=$(pgrep -P "$MEMTEL_PID" -x leaker | head -n 1)
[ -n "$CPID" ] || fail "launch: no leaker child of memtel-bpf"
kill -KILL "$CPID"
t0=$SECONDS
wait_exit "$MEMTEL_PID" 30 || fail "launch: memtel-bpf still running 30 s after its target was killed"
log "launch: memtel-bpf ended $((SECONDS - t0)) s after the SIGKILL, exit $EXIT_CODE"
assert_no_sanitizer "$W/launch.err"
case $EXIT_CODE in 0 | 1) ;; *) fail "launch: memtel-bpf exit $EXIT_CODE (crashed?)" ;; esac
check_profile launch
grep -qi 'killed\|signal\|exited' "$W/launch.out" "$W/launch.err" ||
	fail "launch: nothing says how the target ended"
echo PASS
