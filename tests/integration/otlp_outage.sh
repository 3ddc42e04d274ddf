#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP delivery through collector faults that metrics_faults.sh does not
# play (issue 10), each on a leaker with one export a second:
#  - outage: connections refused for the first 6 s of a 16 s run, then the
#    collector comes back on the same port: every export made meanwhile
#    fits the queue, so every one arrives, once, none counted lost, and
#    the profiler's RSS stays flat while the backlog drains;
#  - 429 with Retry-After: 2: the refused body comes again 2 s later (not
#    after our own 0.5-1 s backoff), and nothing is lost;
#  - a collector that reads every request and never answers: each attempt
#    ends at --otlp-timeout, the run still ends on time with its files
#    written, and the summary owns up to what was not delivered.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

# check_run NAME: check_leaker_run, and the counters into the log.
check_run() {
	check_leaker_run "$1"
	log "$1: summary: $STATS (sent failed retried dropped)"
}

# --- outage: refused for 6 s, then back on the same port ----------------------
port=$(free_port)
start_memtel "$W/outage" --no-cpu --export-interval 1 --otlp-timeout 500 \
	-o "$W/outage.prof" --otlp-endpoint "http://127.0.0.1:$port" -- "$LEAKER" --seconds 16
echo "$MEMTEL_PID" >"$W/memtel.pid"
sleep 6
start_receiver back --port "$port" --watch-pid-file "$W/memtel.pid"
wait_exit "$MEMTEL_PID" 60 || fail "outage: memtel-bpf did not exit within 60 s"
check_run outage
read -r sent failed retried dropped <<<"$STATS"
[ $((failed + dropped)) = 0 ] || fail "outage: exports lost though all fit the queue: $STATS"
[ "$retried" -ge 1 ] || fail "outage: no retry counted over a 6 s outage: $STATS"
n=$(receiver_count "$RECV_DIR")
[ "$sent" = "$n" ] || fail "outage: $sent counted as sent, the collector got $n"
pycheck outage "$RECV_DIR/requests.jsonl" <<'EOF'
import sys
import otlp_wire as w

errors, notes = [], []
recs = w.load_records(sys.argv[1])
metrics = [r for r in recs if r["path"] == "/v1/metrics"]
# 16 s at one export a second, less what the attach and the first
# interval take: anything below 12 means exports made during the outage
# were lost
if len(metrics) < 12:
    errors.append("only %d metrics exports arrived for a 16 s run"
                  % len(metrics))
bodies = [r["body"] for r in recs]
if len(set(bodies)) != len(bodies):
    errors.append("%d requests, %d distinct bodies: something was sent twice"
                  % (len(bodies), len(set(bodies))))
t0 = recs[0]["t_start"] if recs else 0
burst = [r for r in metrics if r["t_start"] - t0 < 1.0]
notes.append("%d requests, %d metrics; %d metrics exports in the first "
             "second after the collector came back (the backlog)"
             % (len(recs), len(metrics), len(burst)))
if len(burst) < 3:
    errors.append("no backlog delivered when the collector came back (%d "
                  "metrics exports in its first second)" % len(burst))
rss = [(r["t_start"] - t0, r["vmrss_bytes"]) for r in recs
       if r.get("vmrss_bytes")]
if len(rss) < 5:
    errors.append("only %d RSS readings of memtel-bpf" % len(rss))
else:
    # from the first request after the outage (the backlog still queued)
    # to the end: no growth (at exit it drops as the model is freed)
    first = rss[0][1]
    hi = max(v for _, v in rss)
    notes.append("memtel-bpf RSS: %.1f MiB with the backlog queued, at most "
                 "%.1f MiB later, %.1f MiB at exit"
                 % (first / 2**20, hi / 2**20, rss[-1][1] / 2**20))
    if hi - first > 8 * 2**20:
        errors.append("memtel-bpf RSS grew by %.1f MiB after the outage"
                      % ((hi - first) / 2**20))
w.report(errors, notes)
EOF

# --- 429 + Retry-After: 2, once ----------------------------------------------------
start_receiver r429 --respond 429x1,200 --retry-after 2
run_memtel "$W/s429" 60 --no-cpu --export-interval 1 -o "$W/s429.prof" \
	--otlp-endpoint "http://127.0.0.1:$RECV_PORT" -- "$LEAKER" --seconds 4
check_run s429
read -r sent failed retried dropped <<<"$STATS"
[ $((failed + dropped)) = 0 ] || fail "429: exports lost: $STATS"
[ "$retried" -ge 1 ] || fail "429: no retry counted: $STATS"
pycheck 429 "$RECV_DIR/requests.jsonl" <<'EOF'
import sys
import otlp_wire as w

errors, notes = [], []
recs = w.load_records(sys.argv[1])
first = recs[0]
again = [r for r in recs[1:] if r["path"] == first["path"]
         and r["body"] == first["body"]]
if len(again) != 1:
    errors.append("the 429'd body arrived %d more times, expected once"
                  % len(again))
else:
    gap = again[0]["t_start"] - first["t_end"]
    notes.append("retried %.3f s after the 429 with Retry-After: 2" % gap)
    # our own backoff would have retried within 0.5..1 s
    if not 1.9 <= gap <= 2.8:
        errors.append("retry %.2f s after a 429 with Retry-After: 2" % gap)
w.report(errors, notes)
EOF

# --- accepts, reads, never answers --------------------------------------------------
start_receiver hang --respond 200@600
t0=$SECONDS
run_memtel "$W/hang" 60 --no-cpu --export-interval 1 --otlp-timeout 500 \
	-o "$W/hang.prof" --otlp-endpoint "http://127.0.0.1:$RECV_PORT" -- "$LEAKER" --seconds 3
elapsed=$((SECONDS - t0))
check_run hang
read -r sent failed retried dropped <<<"$STATS"
log "hang: ${elapsed}s for a 3 s target"
[ "$elapsed" -le 10 ] || fail "hang: ${elapsed}s for a 3 s target: a silent collector held the profiler"
[ "$sent" = 0 ] || fail "hang: $sent counted as sent, nothing was ever answered"
[ "$retried" -ge 1 ] || fail "hang: no retry after the attempts timed out: $STATS"
grep -q 'OTLP.*\(imed out\|could not\|dropped\)' "$W/hang.err" ||
	fail "hang: nothing on stderr about the undelivered exports"
n=$(receiver_count "$RECV_DIR")
[ "$n" -ge 2 ] || fail "hang: the collector saw $n requests: the timed-out one was not retried"
log "collector outage, throttling and silence handled"
