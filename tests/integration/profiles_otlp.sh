#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP profiles over HTTP in the opentelemetry-proto v1.11.0 layout: a local
# receiver gets ExportProfilesServiceRequest bodies at
# /v1development/profiles, and a decoder that is not ours (python3-protobuf
# with code protoc generates from proto/, whose field numbers the checker
# holds against v1.11.0) reads them back (tests/lib/otlp_profiles_check.py):
# zero-value rules, one sample shape, merged sample identities, semantic
# convention attributes, the live-heap time rule, and the numbers: per
# stack, the CPU sample counts over every request equal cpu.pb.gz's, and at
# --sample-bytes 1 the last request's inuse_space equals heap.pb.gz's; a
# process profiled with --pid 2 s after it started has its in-use profiles
# timed from its start, not from the attach.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

# Debian's python3-protobuf lives in /usr/bin/python3's dist-packages, which
# a pyenv python3 first on PATH does not see.
PY=/usr/bin/python3

require_bpf
require_memtel
require_workloads
require_go
"$PY" -c 'import google.protobuf' 2>/dev/null ||
	skip "$PY has no protobuf module (apt-get install python3-protobuf)"
command -v protoc >/dev/null || skip "no protoc (apt-get install protobuf-compiler)"

LIB=$MEMTEL_ROOT/tests/lib
CHECK=$LIB/otlp_profiles_check.py

# Not in $(...): spawn must run in this shell so that cleanup stops it.
start_receiver() { # DIR
	mkdir -p "$1"
	spawn "$1/recv.out" "$1/recv.err" python3 "$LIB/otlp_receiver.py" serve "$1" --lifetime 120
	for _ in $(seq 50); do [ -s "$1/port" ] && break; sleep 0.1; done
	[ -s "$1/port" ] || fail "receiver did not start: $(cat "$1/recv.err")"
}

# 1. CPU: the 3:1 workload, several windows
start_receiver "$W/r1"
port=$(cat "$W/r1/port")
run_memtel "$W/cpu" 60 --no-heap --export-interval 1 \
	--otlp-endpoint "http://127.0.0.1:$port" -o "$W/cpu.prof" -- \
	"$MEMTEL_WL_DIR/cpusplit" --seconds 3
assert_exit 0
assert_no_sanitizer "$W/cpu.err"
python3 "$PPROF_RAW" summary "$W/cpu.prof/cpu.pb.gz" >"$W/cpu.json" || fail "pprof summary"
log "CPU run"
"$PY" "$CHECK" "$W/r1/requests.jsonl" --cpu-pprof "$W/cpu.json" \
	--cpu-funcs leaf_three,leaf_one --min-requests 2 \
	>"$W/check1.out" 2>&1 || { cat "$W/check1.out"; fail "CPU profiles do not match cpu.pb.gz"; }
cat "$W/check1.out"

# 2. heap and CPU together, every allocation recorded
start_receiver "$W/r2"
port=$(cat "$W/r2/port")
run_memtel "$W/heap" 60 --sample-bytes 1 --export-interval 1 \
	--otlp-endpoint "http://127.0.0.1:$port" -o "$W/heap.prof" -- \
	"$HEAPSITES" --repeat 20
assert_exit 0
assert_no_drops "$W/heap.out"
python3 "$PPROF_RAW" summary "$W/heap.prof/heap.pb.gz" >"$W/heap.json" || fail "pprof summary"
python3 "$PPROF_RAW" summary "$W/heap.prof/cpu.pb.gz" >"$W/heapcpu.json" || fail "pprof summary"
log "heap run"
"$PY" "$CHECK" "$W/r2/requests.jsonl" --cpu-pprof "$W/heapcpu.json" \
	--heap-pprof "$W/heap.json" \
	>"$W/check2.out" 2>&1 || { cat "$W/check2.out"; fail "heap profiles do not match heap.pb.gz"; }
cat "$W/check2.out"

# 3. --pid on a process that has run for 2 s: the live-heap snapshot starts
# at the process start
start_receiver "$W/r3"
port=$(cat "$W/r3/port")
start_heapsites "$W/target" --hold
sleep 2
start_memtel "$W/pid" --pid "$TARGET_PID" --no-cpu --sample-bytes 1 \
	--export-interval 1 --otlp-endpoint "http://127.0.0.1:$port" -o "$W/pid.prof"
kill -USR1 "$TARGET_PID"
wait_for_line "$W/target.out" '^done$' 60 "$TARGET_PID" || fail "heapsites did not finish"
sleep 2.5
kill -INT "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit within 60s of SIGINT"
assert_exit 0
python3 "$PPROF_RAW" summary "$W/pid.prof/heap.pb.gz" >"$W/pid.json" || fail "pprof summary"
log "--pid run"
"$PY" "$CHECK" "$W/r3/requests.jsonl" --heap-pprof "$W/pid.json" \
	--pid "$TARGET_PID" --min-requests 2 --min-age 1.5 \
	>"$W/check3.out" 2>&1 || { cat "$W/check3.out"; fail "--pid heap profiles are wrong"; }
cat "$W/check3.out"
exit 0
