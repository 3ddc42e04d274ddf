#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP delivery when the collector misbehaves; each case profiles
# `leaker --seconds 3` with one export a second and checks the receiver's
# log (arrival times, bodies) and the summary line
# "OTLP export: N sent, N failed, N retried, N dropped":
#  - down (nothing listens): the profiler keeps going, exits 0, writes its
#    files, and the summary owns up to the lost exports (none sent, some
#    failed or dropped);
#  - 503 with Retry-After: 1 for the first request: the same body comes
#    again about a second later (Retry-After honoured), then everything is
#    delivered;
#  - 400: final, never retried: every body arrives once, the summary counts
#    each request as failed, and the google.rpc.Status message is logged;
#  - slow (answers after 2 s, --otlp-timeout 500): the attempt times out,
#    the same body is sent again before the server would have answered,
#    and the profiler still finishes promptly.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

# profile NAME URL ARG...: run the profiler on a 3 s leaker; sets STATS
# ("SENT FAILED RETRIED DROPPED") and ELAPSED (whole seconds).
profile() {
	local name=$1 url=$2 t0
	shift 2
	t0=$SECONDS
	run_memtel "$W/$name" 60 --no-cpu --sample-bytes 1 --export-interval 1 \
		-o "$W/$name.prof" --otlp-endpoint "$url" "$@" -- "$LEAKER" --seconds 3
	ELAPSED=$((SECONDS - t0))
	check_leaker_run "$name"
	log "$name: ${ELAPSED}s; summary: $STATS (sent failed retried dropped)"
}

# --- down: connection refused ------------------------------------------------
port=$(free_port)
profile down "http://127.0.0.1:$port" --otlp-timeout 500
read -r sent failed retried dropped <<<"$STATS"
[ "$ELAPSED" -le 15 ] || fail "down: the profiler took ${ELAPSED}s for a 3 s target"
[ "$sent" = 0 ] || fail "down: $sent exports counted as sent with nothing listening"
grep -q 'OTLP.*\(dropped\|failed\|could not\)' "$W/down.err" ||
	fail "down: nothing on stderr about the undelivered exports"
[ $((failed + dropped)) -gt 0 ] ||
	fail "down: summary reports no failed or dropped exports ($STATS) though none was delivered: $(grep -m1 'dropped' "$W/down.err")"

# --- 503 + Retry-After: 1, once ----------------------------------------------
start_receiver r503 --respond 503x1,200 --retry-after 1
profile s503 "http://127.0.0.1:$RECV_PORT"
read -r sent failed retried dropped <<<"$STATS"
if [ "$failed" != 0 ] || [ "$dropped" != 0 ]; then fail "503 once: exports lost: $STATS"; fi
[ "$retried" -ge 1 ] || fail "503 once: summary counts no retry: $STATS"
n503=$(receiver_count "$RECV_DIR")
[ "$sent" -eq $((n503 - 1)) ] || fail "503 once: $sent sent, but the receiver answered $((n503 - 1)) requests 200"
pycheck 503 "$RECV_DIR/requests.jsonl" <<'EOF'
import sys
import otlp_wire as w

errors, notes = [], []
recs = w.load_records(sys.argv[1])
first = recs[0]
notes.append("first request: %s %s at %.3f" % (first["path"], first["status"],
                                              first["t_start"]))
again = [r for r in recs[1:] if r["path"] == first["path"]
         and r["body"] == first["body"]]
if len(again) != 1:
    errors.append("the 503'd body arrived %d more times, expected once"
                  % len(again))
else:
    gap = again[0]["t_start"] - first["t_end"]
    notes.append("retried %.3f s after the 503 (request %d)"
                 % (gap, again[0]["seq"]))
    if not 0.9 <= gap <= 1.6:
        errors.append("retry %.2f s after the 503 with Retry-After: 1" % gap)
    later = [r for r in recs if r["path"] == first["path"]
             and r["seq"] > first["seq"] and r["seq"] < again[0]["seq"]]
    if later:
        errors.append("request %d overtook the retry of request 0"
                      % later[0]["seq"])
bodies = [r["body"] for r in recs]
if len(set(bodies)) != len(bodies) - 1:
    errors.append("%d requests but %d distinct bodies: more than the one "
                  "retry" % (len(bodies), len(set(bodies))))
w.report(errors, notes)
EOF

# --- 400: not retried --------------------------------------------------------
start_receiver r400 --respond 400
profile s400 "http://127.0.0.1:$RECV_PORT"
read -r sent failed retried dropped <<<"$STATS"
n400=$(receiver_count "$RECV_DIR")
nm400=$(receiver_count "$RECV_DIR" /v1/metrics)
log "400: the receiver got $n400 requests, $nm400 of them metrics"
[ "$nm400" -ge 3 ] || fail "400: only $nm400 metrics requests for 3 s at one a second"
[ "$sent" = 0 ] || fail "400: $sent counted as sent"
[ "$retried" = 0 ] || fail "400: $retried retries of a final answer"
[ "$failed" = "$n400" ] || fail "400: summary counts $failed failed, the receiver refused $n400 requests"
grep -q 'HTTP 400: test receiver answers 400' "$W/s400.err" ||
	fail "400: the google.rpc.Status message is not in the log"
nlog=$(grep -c 'HTTP 400' "$W/s400.err")
[ "$nlog" -lt "$n400" ] || fail "400: $nlog log lines for $n400 refusals: not rate-limited"
pycheck 400 "$RECV_DIR/requests.jsonl" <<'EOF'
import sys
import otlp_wire as w

recs = w.load_records(sys.argv[1])
seen, errors = {}, []
for r in recs:
    k = (r["path"], r["body"])
    if k in seen:
        errors.append("request %d repeats request %d after a 400"
                      % (r["seq"], seen[k]))
    seen[k] = r["seq"]
w.report(errors, ["%d requests, all distinct" % len(recs)])
EOF

# --- slow: timeout, retry ----------------------------------------------------
start_receiver slow --respond 200@2
profile slow "http://127.0.0.1:$RECV_PORT" --otlp-timeout 500
read -r sent failed retried dropped <<<"$STATS"
[ "$ELAPSED" -le 12 ] || fail "slow: the profiler took ${ELAPSED}s for a 3 s target"
[ "$retried" -ge 1 ] || fail "slow: no retry after a timeout: $STATS"
pycheck slow "$RECV_DIR/requests.jsonl" <<'EOF'
import sys
import otlp_wire as w

errors, notes = [], []
recs = w.load_records(sys.argv[1])
first = recs[0] if recs else None
again = [r for r in recs[1:] if first and r["body"] == first["body"]
         and r["path"] == first["path"]]
if not again:
    errors.append("the timed-out request was never sent again (%d requests)"
                  % len(recs))
else:
    gap = again[0]["t_start"] - first["t_start"]
    notes.append("first attempt at %.3f, second %.3f s later"
                 % (first["t_start"], gap))
    # timeout 0.5 s + backoff 0.5..1 s; the server answers after 2 s
    if not 0.9 <= gap < 1.9:
        errors.append("second attempt %.2f s after the first: expected the "
                      "0.5 s timeout plus a 0.5..1 s backoff" % gap)
w.report(errors, notes)
EOF
log "delivery faults handled"
