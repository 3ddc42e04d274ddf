#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Every process of a tree has its own OTLP resource for heap profiles too:
# `-- forker --children 2` exported over OTLP/gRPC (tests/lib/
# grpc_receiver.py) carries heap profiles under resources whose
# process.pid are the parent and each child.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

RECEIVER=$MEMTEL_ROOT/tests/lib/grpc_receiver.py
PY=/usr/bin/python3

require_bpf
require_memtel
require_workloads
"$PY" -c 'import grpc' 2>/dev/null ||
	skip "$PY has no grpc module (apt-get install python3-grpcio)"

watch_log "$W/rx.log"
spawn "$W/rx.log" "$W/rx.log" "$PY" "$RECEIVER" serve --port-file "$W/rx.port" \
	--record "$W/rx.jsonl" --lifetime 60
wait_for_line "$W/rx.port" '^[0-9]+$' 20 "$SPAWN_PID" || fail "grpc_receiver.py did not start"
for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done
run_memtel "$W/m" 60 --no-cpu --sample-bytes 1 --otlp-protocol grpc \
	--otlp-endpoint "http://127.0.0.1:$(cat "$W/rx.port")" -o "$W/prof" -- "$FORKER" --children 2
assert_exit 0
assert_no_sanitizer "$W/m.err"
parent=$(sed -n 's/^memtel-bpf: pid \([0-9]*\) .*/\1/p' "$W/m.out")
c0=$(sed -n 's/^child 0 \([0-9]*\)$/\1/p' "$W/m.out")
c1=$(sed -n 's/^child 1 \([0-9]*\)$/\1/p' "$W/m.out")
[ -n "$parent" ] && [ -n "$c0" ] && [ -n "$c1" ] || fail "pids not found in the output"
"$PY" - "$MEMTEL_ROOT/tests/lib" "$W/rx.jsonl" "$parent" "$c0" "$c1" >"$W/check.txt" 2>&1 <<'PY' || { cat "$W/check.txt"; fail "heap resources are not per process"; }
import base64, json, sys
sys.path.insert(0, sys.argv[1])
from grpc_receiver import fields, sub
# ExportProfilesServiceRequest.resource_profiles (1) > resource (1) >
# attributes (1) KeyValue: key (1), value (2) AnyValue with int_value (3)
pids = set()
for line in open(sys.argv[2]):
    c = json.loads(line)
    if c["kind"] != "profiles":
        continue
    for rp in sub(base64.b64decode(c["message"]), 1):
        for res in sub(rp, 1):
            for kv in sub(res, 1):
                if sub(kv, 1) != [b"process.pid"]:
                    continue
                for n, _, v in fields(sub(kv, 2)[0]):
                    if n == 3:
                        pids.add(str(v))
want = set(sys.argv[3:])
print("resources for pids", sorted(pids), "want", sorted(want))
assert want <= pids, "missing %s" % sorted(want - pids)
PY
cat "$W/check.txt"
