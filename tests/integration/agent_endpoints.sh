#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-bpf agent's HTTP endpoint and its stop:
#  - polled from before the agent starts: the first answers are /healthz
#    200 and /readyz 503 (BPF not attached yet), then /readyz 200;
#  - /metrics is Prometheus text that `promtool check metrics` accepts,
#    with the agent's own figures (events, exports, processes, CPU, RSS);
#  - a failure (the -o DIR replaced by a file: the window's pprof cannot be
#    written) turns /readyz to 503 while /healthz stays 200, and putting
#    the directory back makes it ready again;
#  - SIGTERM with an export interval of an hour still sends the profiles
#    and metrics of the last window (requests that start after the signal)
#    and the agent exits 0 within its 2.5 s flush deadline plus margin (5 s).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
command -v promtool >/dev/null || fail "promtool not installed (tools/deps.sh: prometheus)"

code() { curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$1$2"; }
wait_code() { # PORT PATH CODE SECONDS
	local k
	for ((k = 0; k < $4 * 10; k++)); do
		[ "$(code "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# 1. readiness from the very start, then /metrics, then a failure
PORT=$(free_port)
POLL=$W/poll.txt
cat >"$W/poll.py" <<'PY'
import http.client, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
end = time.time() + 60
with open(out, "w") as f:
    while time.time() < end:
        try:
            res = []
            for path in ("/healthz", "/readyz"):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", path)
                res.append(str(c.getresponse().status))
                c.close()
        except OSError:
            time.sleep(0.005)
            continue
        f.write(" ".join(res) + "\n")
        f.flush()
        if res[1] == "200":
            break
        time.sleep(0.01)
PY
spawn "$W/poll.out" "$W/poll.err" python3 "$W/poll.py" "$PORT" "$POLL"
POLLER=$SPAWN_PID
OUT=$W/out
watch_log "$W/agent.out" "$W/agent.err" "$POLL"
spawn "$W/agent.out" "$W/agent.err" "$MEMTEL_BIN" agent -o "$OUT" \
	--export-interval 1 --listen "127.0.0.1:$PORT" --keep-files 3
AGENT=$SPAWN_PID
wait_exit "$POLLER" 70 || fail "the readiness poller did not finish"
head -n 1 "$POLL" | grep -qx '200 503' ||
	fail "first answers before attach: '$(head -n 1 "$POLL")', want /healthz 200 /readyz 503"
tail -n 1 "$POLL" | grep -qx '200 200' || fail "never ready: $(tail -n 1 "$POLL")"
log "readiness: $(head -n 1 "$POLL") first, $(wc -l <"$POLL") polls until ready"

curl -sf "http://127.0.0.1:$PORT/metrics" >"$W/metrics.txt" || fail "GET /metrics failed"
promtool check metrics <"$W/metrics.txt" >"$W/promtool.txt" 2>&1 ||
	{ watch_log "$W/promtool.txt"; fail "promtool check metrics rejects /metrics"; }
for m in memtel_agent_events_total memtel_agent_exports_total \
	memtel_agent_processes memtel_agent_cpu_time_seconds_total \
	memtel_agent_memory_rss_bytes memory_rss_bytes memtel_agent_heap_targets; do
	grep -q "^$m[{ ]" "$W/metrics.txt" || fail "/metrics has no $m"
done
procs=$(awk '$1 == "memtel_agent_processes" { print $2 }' "$W/metrics.txt")
[ "${procs%.*}" -ge 3 ] 2>/dev/null || fail "memtel_agent_processes is '$procs'"
[ "$(code "$PORT" /nope)" = 404 ] || fail "an unknown path does not answer 404"

# files: one per window, at most --keep-files
sleep 4
n=$(find "$OUT" -name 'cpu-*.pb.gz' | wc -l)
[ "$n" -ge 1 ] && [ "$n" -le 3 ] || fail "$n cpu-*.pb.gz files in $OUT, want 1..3"

mv "$OUT" "$OUT.away" && : >"$OUT"
wait_code "$PORT" /readyz 503 10 || fail "/readyz still $(code "$PORT" /readyz) while $OUT cannot be written"
[ "$(code "$PORT" /healthz)" = 200 ] || fail "/healthz is not 200 after a failed window"
rm -f "$OUT" && mv "$OUT.away" "$OUT"
wait_code "$PORT" /readyz 200 10 || fail "/readyz did not recover once $OUT was back"
kill -TERM "$AGENT"
wait_exit "$AGENT" 10 || fail "the agent did not exit within 10 s of SIGTERM"
assert_exit 0 "memtel-bpf agent (-o)"

# 2. SIGTERM: the final export
start_receiver recv
PORT=$(free_port)
spawn "$W/agent2.out" "$W/agent2.err" "$MEMTEL_BIN" agent \
	--otlp-endpoint "http://127.0.0.1:$RECV_PORT" --export-interval 3600 \
	--listen "127.0.0.1:$PORT"
AGENT=$SPAWN_PID
watch_log "$W/agent2.out" "$W/agent2.err"
wait_code "$PORT" /readyz 200 60 || fail "the agent never became ready"
# something on the node to sample: on an idle machine 2 s can hold no CPU
# sample at all, and an empty window sends no profiles request
end=$((SECONDS + 2))
while [ "$SECONDS" -lt "$end" ]; do :; done
before=$(receiver_count "$RECV_DIR" /v1development/profiles)
t0=$(date +%s.%N)
kill -TERM "$AGENT"
wait_exit "$AGENT" 10 || fail "the agent did not exit within 10 s of SIGTERM"
t1=$(date +%s.%N)
assert_exit 0 "memtel-bpf agent (OTLP)"
after=$(receiver_count "$RECV_DIR" /v1development/profiles)
[ "$before" = 0 ] || fail "$before profiles requests before SIGTERM with a one-hour interval"
[ "$after" -ge 1 ] || fail "no profiles request after SIGTERM"
[ "$(receiver_count "$RECV_DIR" /v1/metrics)" -ge 2 ] ||
	fail "no metrics request after SIGTERM (the first scan's and the last window's)"
python3 - "$RECV_DIR/requests.jsonl" "$t0" <<'PY' || fail "the final profiles request did not start after SIGTERM"
import json, sys
t0 = float(sys.argv[2])
ts = [r["t_start"] for r in map(json.loads, open(sys.argv[1]))
      if r.get("path") == "/v1development/profiles"]
sys.exit(0 if ts and min(ts) >= t0 else 1)
PY
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "stopped in ${took}s after SIGTERM"
awk -v t="$took" 'BEGIN { exit !(t < 5) }' || fail "stop took ${took}s, over 5 s"
echo "PASS"
