#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Memory metrics over OTLP/gRPC to a real gRPC server (tests/lib/
# grpc_receiver.py on Debian's python3-grpcio, h2c on 127.0.0.1): calls
# arrive on MetricsService/Export with --otlp-header as metadata and decode
# (with a schema-less wire reader) as ExportMetricsServiceRequests naming
# memtel's metrics; an UNAVAILABLE answer is retried with the same request;
# INVALID_ARGUMENT is final: one call per export window, none retried.
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
[ -x "$LEAKER" ] || fail "workloads not built: $LEAKER (make workloads)"
"$PY" -c 'import grpc' 2>/dev/null ||
	skip "$PY has no grpc module (apt-get install python3-grpcio)"

# start_receiver NAME ARG...: sets RX_PORT and RX_RECORD.
start_receiver() {
	local name=$1
	shift
	RX_RECORD=$W/$name.jsonl
	watch_log "$W/$name.log"
	spawn "$W/$name.log" "$W/$name.log" "$PY" "$RECEIVER" serve \
		--port-file "$W/$name.port" --record "$RX_RECORD" --lifetime 120 "$@"
	wait_for_line "$W/$name.port" '^[0-9]+$' 20 "$SPAWN_PID" ||
		fail "grpc_receiver.py did not start"
	RX_PORT=$(cat "$W/$name.port")
	log "receiver $name on 127.0.0.1:$RX_PORT ($*)"
}

# summary_count OUTFILE WORD: N of the "OTLP export: N sent, N failed,
# N retried, N dropped" summary line.
summary_count() {
	sed -n "s/^OTLP export:.* \([0-9][0-9]*\) $2.*/\1/p" "$1" | head -n 1
}

# --- UNAVAILABLE first, then OK: retried; metadata and payloads ------------------
start_receiver rx1 --statuses UNAVAILABLE,OK
run_memtel "$W/m1" 90 --no-cpu --export-interval 1 --otlp-protocol grpc \
	--otlp-endpoint "http://127.0.0.1:$RX_PORT" \
	--otlp-header 'X-Tenant=acme%2Fteam' -o "$W/prof1" -- "$LEAKER" --seconds 4
assert_exit 0
assert_no_sanitizer "$W/m1.err"
"$PY" "$RECEIVER" check "$RX_RECORD" --method metrics --min 3 \
	--metadata x-tenant=acme/team --metric memory.heap_bytes \
	--metric memory.allocation.count >"$W/check1.txt" 2>&1 ||
	{ cat "$W/check1.txt"; fail "metrics calls do not check out"; }
cat "$W/check1.txt"

"$PY" - "$RX_RECORD" >"$W/retry1.txt" 2>&1 <<'EOF' || { cat "$W/retry1.txt"; fail "UNAVAILABLE was not retried as it should be"; }
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
m = [c for c in calls if c["kind"] == "metrics"]
md = dict(m[0]["metadata"])
assert md.get("user-agent", "").startswith("memtel-bpf/"), md
assert "grpc-timeout" not in md and "te" not in md, md
# Our grpc-timeout is the default 10 s request timeout.
assert m[0]["time_remaining"] and 8 < m[0]["time_remaining"] <= 10, m[0]
assert m[0]["status"] == "UNAVAILABLE", m[0]["status"]
# The retry is the same request, and it succeeds; the rest go through.
assert m[1]["message"] == m[0]["message"], "retry sent another payload"
assert all(c["status"] == "OK" for c in m[1:]), [c["status"] for c in m]
gap = m[1]["time"] - m[0]["time"]
assert 0.4 <= gap <= 5, "retry after %.2f s" % gap
print("UNAVAILABLE retried after %.2f s; %d metrics calls" % (gap, len(m)))
EOF
cat "$W/retry1.txt"
retried=$(summary_count "$W/m1.out" retried)
sent=$(summary_count "$W/m1.out" sent)
log "memtel: $sent sent, $retried retried"
[ -n "$retried" ] || fail "no 'OTLP export: ... retried' summary line"
[ "$retried" -ge 1 ] || fail "summary says $retried retried, want >= 1"
[ "$(summary_count "$W/m1.out" failed)" = 0 ] || fail "summary reports failures"

# --- INVALID_ARGUMENT: final, never retried -----------------------------------------
start_receiver rx2 --statuses INVALID_ARGUMENT
run_memtel "$W/m2" 90 --no-cpu --export-interval 1 --otlp-protocol grpc \
	--otlp-endpoint "http://127.0.0.1:$RX_PORT/" -o "$W/prof2" -- \
	"$LEAKER" --seconds 4
assert_exit 0
assert_no_sanitizer "$W/m2.err"
grep -q 'gRPC INVALID_ARGUMENT (3): scripted INVALID_ARGUMENT' "$W/m2.err" ||
	fail "the INVALID_ARGUMENT failure was not logged"
n=$(grep -c 'gRPC INVALID_ARGUMENT' "$W/m2.err")
# Logged once per signal (the same error again is not repeated).
[ "$n" -le 2 ] || fail "INVALID_ARGUMENT logged $n times"
calls=$("$PY" "$RECEIVER" count "$RX_RECORD")
metrics=$("$PY" "$RECEIVER" count "$RX_RECORD" --method metrics)
failed=$(summary_count "$W/m2.out" failed)
retried=$(summary_count "$W/m2.out" retried)
log "receiver: $calls calls ($metrics metrics); memtel: $failed failed, $retried retried"
[ "$retried" = 0 ] || fail "INVALID_ARGUMENT was retried ($retried retries)"
[ "$failed" = "$calls" ] || fail "memtel counts $failed failures, the receiver $calls calls"
[ "$metrics" -ge 3 ] || fail "$metrics metrics calls in 4 s at 1 s windows"
"$PY" "$RECEIVER" check "$RX_RECORD" --method metrics --min 3 >"$W/check2.txt" 2>&1 ||
	{ cat "$W/check2.txt"; fail "metrics calls do not decode"; }
# One call per window: a retry resends the very same bytes, while every
# window's request differs (timestamps, counters).
"$PY" - "$RX_RECORD" <<'EOF' || fail "a request was sent twice (retried)"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for kind in ("metrics", "profiles"):
    msgs = [c["message"] for c in calls if c["kind"] == kind]
    print("# %s: %d calls, %d distinct requests" % (kind, len(msgs), len(set(msgs))))
    if len(set(msgs)) != len(msgs):
        sys.exit(1)
EOF
exit 0
