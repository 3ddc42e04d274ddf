#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP profiles over HTTP: a local receiver gets ExportProfilesServiceRequest
# bodies at /v1development/profiles, decoded by a reader that is not ours
# (tests/lib/otlp_profiles_check.py on otlp_wire's schema-less decoder).
# Every stack must resolve through the dictionary to known functions, the
# zero-value rules must hold, mappings must carry GNU build IDs and
# htlhashes, and the CPU samples and heap bytes summed over every request
# must equal the pprof files written by the same run.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

LIB=$MEMTEL_ROOT/tests/lib

start_receiver() { # DIR
	mkdir -p "$1"
	spawn "$1/recv.out" "$1/recv.err" python3 "$LIB/otlp_receiver.py" serve "$1" --lifetime 120
	for _ in $(seq 50); do [ -s "$1/port" ] && break; sleep 0.1; done
	[ -s "$1/port" ] || fail "receiver did not start: $(cat "$1/recv.err")"
	cat "$1/port"
}

# 1. CPU: the 3:1 workload
port=$(start_receiver "$W/r1")
run_memtel "$W/cpu" 60 --no-heap --export-interval 1 \
	--otlp-endpoint "http://127.0.0.1:$port" -o "$W/cpu.prof" -- \
	"$MEMTEL_WL_DIR/cpusplit" --seconds 3
assert_exit 0
assert_no_sanitizer "$W/cpu.err"
python3 "$PPROF_RAW" summary "$W/cpu.prof/cpu.pb.gz" >"$W/cpu.json" || fail "pprof summary"
python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["by_leaf"], open(sys.argv[2], "w"))' \
	"$W/cpu.json" "$W/cpu.leaf.json"
echo '{}' >"$W/empty.json"
# CPU-only run: no heap profiles are expected, so check with an empty heap
# reference and the CPU functions
python3 - "$W/r1/requests.jsonl" <<'PY' || fail "CPU run: no profiles request"
import sys, json
n = sum(1 for l in open(sys.argv[1]) if '"/v1development/profiles"' in l)
sys.exit(0 if n else 1)
PY

# 2. heap and CPU together, every allocation recorded
port=$(start_receiver "$W/r2")
"$HEAPSITES" --repeat 20 --expect >"$W/expect.json" || fail "heapsites --expect"
run_memtel "$W/heap" 60 --sample-bytes 1 --export-interval 1 \
	--otlp-endpoint "http://127.0.0.1:$port" -o "$W/heap.prof" -- \
	"$HEAPSITES" --repeat 20
assert_exit 0
assert_no_drops "$W/heap.out"
python3 "$PPROF_RAW" summary "$W/heap.prof/heap.pb.gz" >"$W/heap.json" || fail "pprof summary"
python3 "$PPROF_RAW" summary "$W/heap.prof/cpu.pb.gz" >"$W/heapcpu.json" || fail "pprof summary"
for f in heap heapcpu; do
	python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["by_leaf"], open(sys.argv[2], "w"))' \
		"$W/$f.json" "$W/$f.leaf.json"
done

log "CPU run"
# the CPU-only run has no heap profiles: merge its requests with the heap
# run's for the sample-type check, compare each against its own pprof
python3 "$LIB/otlp_profiles_check.py" "$W/r1/requests.jsonl" "$W/cpu.leaf.json" \
	"$W/empty.json" --cpu-funcs leaf_three,leaf_one --allow-missing-heap \
	>"$W/check1.out" 2>&1 || { cat "$W/check1.out"; fail "CPU profiles do not match cpu.pb.gz"; }
cat "$W/check1.out"
log "heap run"
sites=$(python3 -c 'import json,sys; print(",".join(k for k, v in json.load(open(sys.argv[1]))["sites"].items() if v["alloc_space"]))' "$W/expect.json")
python3 "$LIB/otlp_profiles_check.py" "$W/r2/requests.jsonl" "$W/heapcpu.leaf.json" \
	"$W/heap.leaf.json" --heap-funcs "$sites" \
	>"$W/check2.out" 2>&1 || { cat "$W/check2.out"; fail "heap profiles do not match heap.pb.gz"; }
cat "$W/check2.out"
exit 0
