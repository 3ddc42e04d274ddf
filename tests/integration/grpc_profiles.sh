#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Profiles and metrics over OTLP/gRPC configured through the OTEL_*
# environment alone (OTEL_EXPORTER_OTLP_PROTOCOL=grpc, _ENDPOINT,
# _COMPRESSION=gzip, _HEADERS), to a real gRPC server (tests/lib/
# grpc_receiver.py, python3-grpcio): ProfilesService/Export calls arrive
# gzip-compressed (the server inflates them) and decode, with a
# schema-less wire reader, as ExportProfilesServiceRequests with a
# dictionary and profiles, and read back by python3-protobuf with the
# v1.11.0 schema (tests/lib/otlp_profiles_check.py, as over HTTP): the
# layout, the sample rules, the live-heap times and per-stack heap numbers
# equal to heap.pb.gz of the same run; RESOURCE_EXHAUSTED with a RetryInfo of 1.5 s
# is retried (without RetryInfo it would be final), and no sooner than
# that, longer than any backoff (at most 1 s for a first retry).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

RECEIVER=$MEMTEL_ROOT/tests/lib/grpc_receiver.py
# Debian's python3-grpcio lives in /usr/bin/python3's dist-packages, which a
# pyenv python3 first on PATH does not see.
PY=/usr/bin/python3
LEAKER=$MEMTEL_WL_DIR/leaker

require_bpf
require_memtel
require_go
[ -x "$LEAKER" ] || fail "workloads not built: $LEAKER (make workloads)"
"$PY" -c 'import grpc' 2>/dev/null ||
	skip "$PY has no grpc module (apt-get install python3-grpcio)"
"$PY" -c 'import google.protobuf' 2>/dev/null ||
	skip "$PY has no protobuf module (apt-get install python3-protobuf)"

watch_log "$W/rx.log"
spawn "$W/rx.log" "$W/rx.log" "$PY" "$RECEIVER" serve --port-file "$W/rx.port" \
	--record "$W/rx.jsonl" --lifetime 120 --statuses RESOURCE_EXHAUSTED@1500,OK
wait_for_line "$W/rx.port" '^[0-9]+$' 20 "$SPAWN_PID" ||
	fail "grpc_receiver.py did not start"
port=$(cat "$W/rx.port")
log "receiver on 127.0.0.1:$port"

for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done
export OTEL_EXPORTER_OTLP_PROTOCOL=grpc
export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port
export OTEL_EXPORTER_OTLP_COMPRESSION=gzip
export OTEL_EXPORTER_OTLP_HEADERS='Authorization=Bearer%20t0ken,x-scope=heap'
run_memtel "$W/m" 90 --no-cpu --export-interval 1 -o "$W/prof" -- \
	"$LEAKER" --seconds 4
assert_exit 0
assert_no_sanitizer "$W/m.err"
grep -q '^memtel-bpf: exporting profiles to' "$W/m.err" ||
	fail "profiles export did not start"
grep -q 't0ken' "$W/m.err" "$W/m.out" && fail "a header value was logged"

"$PY" "$RECEIVER" check "$W/rx.jsonl" --method profiles --min 2 \
	--metadata 'authorization=Bearer t0ken' --metadata x-scope=heap \
	>"$W/check.txt" 2>&1 || { cat "$W/check.txt"; fail "profiles calls do not check out"; }
"$PY" "$RECEIVER" check "$W/rx.jsonl" --method metrics --min 2 \
	--metadata x-scope=heap >>"$W/check.txt" 2>&1 ||
	{ cat "$W/check.txt"; fail "metrics calls do not check out"; }

"$PY" - "$W/rx.jsonl" >"$W/check2.txt" 2>&1 <<'EOF' || { cat "$W/check2.txt"; fail "profiles over gRPC are wrong"; }
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
p = [c for c in calls if c["kind"] == "profiles"]
for c in p:
    d = c["decoded"]
    assert d["dictionary"] and d["profiles"] >= 1, d
    assert d["resources"][0].get("service.name") == "unknown_service:leaker", d
for kind in ("metrics", "profiles"):
    k = [c for c in calls if c["kind"] == kind]
    assert k[0]["status"] == "RESOURCE_EXHAUSTED", k[0]["status"]
    assert k[1]["message"] == k[0]["message"], "%s: retry differs" % kind
    gap = k[1]["time"] - k[0]["time"]
    # RetryInfo says 1.5 s; the first backoff alone is 0.5-1 s.
    assert 1.45 <= gap <= 6, "%s: retried after %.2f s" % (kind, gap)
    print("%s: %d calls, RetryInfo 1.5 s -> retried after %.2f s"
          % (kind, len(k), gap))
EOF
cat "$W/check2.txt"

python3 "$PPROF_RAW" summary "$W/prof/heap.pb.gz" >"$W/heap.json" || fail "pprof summary"
"$PY" "$MEMTEL_ROOT/tests/lib/otlp_profiles_check.py" --grpc "$W/rx.jsonl" \
	--heap-pprof "$W/heap.json" --min-requests 2 >"$W/check3.txt" 2>&1 ||
	{ cat "$W/check3.txt"; fail "profiles over gRPC do not decode as v1.11.0 or do not match heap.pb.gz"; }
cat "$W/check3.txt"
exit 0
