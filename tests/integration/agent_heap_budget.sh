#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The --max-overhead budget for the agent's heap targets. A tight
# malloc/free loop keeping a ring of 10000 live blocks (leaker --ring
# --tick-ms 0) costs far more than 5 % in heap probes, so under the
# agent's default budget its probes pause after the first on-segment:
#  - /metrics: memtel_heap_probes_on_ratio < 1 and
#    memtel_heap_unverified_bytes for its pid, its own
#    memtel_agent_heap_target_probe_pauses_total >= 1 and
#    memtel_agent_heap_target_probes_paused 1; promtool accepts the page;
#  - its heap-<ms>-<pid>.pb.gz says it is partial in its comments;
#  - when it exits it is released with no uprobe_multi link left open;
#  - over OTLP the same: the on-ratio gauge < 1 under its resource.
# With max-overhead = 0 (in the --config file) its probes stay on: no
# on-ratio series, no pause, no partial comment.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_workloads

# a name of this run's own, so another test's leaker never matches
NAME=hbg$$
cp "$MEMTEL_WL_DIR/leaker" "$W/$NAME" || fail "cannot copy the leaker workload"
RING_ARGS=(--ring 10000 --leak-bytes 8192 --tick-ms 0 --seconds 30)

metrics() { curl -sf -m 5 "http://127.0.0.1:$PORT/metrics" >"$1"; }
series() { # FILE METRIC PID: the value of METRIC for PID
	awk -v m="$2{" -v p="process_pid=\"$3\"" 'index($0, m) == 1 && index($0, p) { print $2 }' "$1"
}
links() { # uprobe_multi links the agent holds open
	grep -l 'link_type:.*uprobe_multi' /proc/"$AGENT"/fdinfo/* 2>/dev/null | wc -l
}
# start_agent PREFIX ARG...: the agent on a free port, its heap-target
# selector NAME; waits for its start line. Sets AGENT and PORT.
start_agent() {
	local prefix=$1
	shift
	PORT=$(free_port)
	watch_log "$prefix.out" "$prefix.err"
	spawn "$prefix.out" "$prefix.err" "$MEMTEL_BIN" agent --export-interval 1 \
		--listen "127.0.0.1:$PORT" --heap-target "comm=$NAME" "$@"
	AGENT=$SPAWN_PID
	wait_for_line "$prefix.err" "0 heap target\\(s\\) attached at start" 30 "$AGENT" ||
		fail "the agent did not start"
}
# start_ring PREFIX: the workload, waited for as a heap target. Sets RING.
start_ring() {
	spawn "$1.out" "$1.err" "$W/$NAME" "${RING_ARGS[@]}"
	RING=$SPAWN_PID
	wait_for_line "$2" "heap target pid $RING " 10 "$AGENT" ||
		fail "pid $RING never became a heap target"
}
stop_agent() {
	kill -TERM "$AGENT"
	wait_exit "$AGENT" 10 || fail "the agent did not exit within 10 s of SIGTERM"
	assert_exit 0 "memtel-bpf agent"
}

# 1. the default budget (5 %): paused, partial on /metrics and in pprof
OUT=$W/out
start_agent "$W/a1" -o "$OUT"
grep -q 'overhead budget 5% each' "$W/a1.err" || fail "the agent does not say its budget: $(grep budget "$W/a1.err")"
start_ring "$W/r1" "$W/a1.err"
ratio=
for ((k = 0; k < 150; k++)); do
	metrics "$W/m1.txt" && ratio=$(series "$W/m1.txt" memtel_heap_probes_on_ratio "$RING")
	[ -n "$ratio" ] && awk -v r="$ratio" 'BEGIN { exit !(r < 1) }' && break
	alive "$AGENT" || fail "the agent exited"
	alive "$RING" || fail "the workload exited"
	sleep 0.1
done
[ -n "$ratio" ] || fail "no memtel_heap_probes_on_ratio for pid $RING within 15 s: $(grep -c . "$W/m1.txt") lines"
awk -v r="$ratio" 'BEGIN { exit !(r < 1) }' || fail "on-ratio $ratio: the probes were never paused"
unv=$(series "$W/m1.txt" memtel_heap_unverified_bytes "$RING")
[ -n "$unv" ] || fail "no memtel_heap_unverified_bytes for pid $RING"
pauses=$(series "$W/m1.txt" memtel_agent_heap_target_probe_pauses_total "$RING")
awk -v n="${pauses:-0}" 'BEGIN { exit !(n >= 1) }' || fail "probe pauses of pid $RING: '${pauses:-none}'"
log "pid $RING: on-ratio $ratio, unverified $unv B, $pauses pause(s)"
promtool check metrics <"$W/m1.txt" >"$W/promtool.txt" 2>&1 ||
	! grep -v 'mb_h_megabytes_per_hour' "$W/promtool.txt" | grep -q . ||
	{ watch_log "$W/promtool.txt"; fail "promtool check metrics rejects /metrics"; }
# a window later, its heap profile says it is partial
sleep 1.5
f=$(find "$OUT" -name "heap-*-$RING.pb.gz" | sort | tail -n 1)
[ -n "$f" ] || fail "no heap-*-$RING.pb.gz in $OUT"
pprof -raw "$f" >"$W/r1.raw" 2>&1 || fail "go tool pprof cannot read $f: $(tail -3 "$W/r1.raw")"
grep -Eq '^Comment: memtel: heap probes on [0-9]+% of the time \(budget 5%\)' "$W/r1.raw" ||
	fail "$f does not say it is partial: $(grep Comment "$W/r1.raw")"
grep -q '^Comment: memtel: .* unverified (samples labelled memtel.unverified=true)' "$W/r1.raw" ||
	fail "$f does not say which samples are unverified"
metrics "$W/m1b.txt"
[ "$(series "$W/m1b.txt" memtel_agent_heap_target_probes_paused "$RING")" = 1 ] ||
	fail "memtel_agent_heap_target_probes_paused of pid $RING: '$(series "$W/m1b.txt" memtel_agent_heap_target_probes_paused "$RING")', want 1"
# released at its exit: nothing of it left attached
kill -TERM "$RING"
wait_exit "$RING" 5 || fail "the workload did not stop"
wait_for_line "$W/a1.err" "heap target pid $RING released: it exited" 5 "$AGENT" ||
	fail "no release line for pid $RING"
sleep 0.5
[ "$(links)" = 0 ] || fail "$(links) uprobe_multi links still open after the paused target exited"
stop_agent

# 2. max-overhead = 0 in the config file: never paused, nothing partial
printf 'max-overhead = 0\n' >"$W/unl.conf"
OUT=$W/out2
start_agent "$W/a2" -o "$OUT" --config "$W/unl.conf"
grep -q 'no overhead budget' "$W/a2.err" || fail "the agent does not say it has no budget"
start_ring "$W/r2" "$W/a2.err"
sleep 4
metrics "$W/m2.txt" || fail "GET /metrics failed"
[ -n "$(series "$W/m2.txt" memory_heap_bytes "$RING")" ] || fail "no heap metrics for pid $RING"
[ -z "$(series "$W/m2.txt" memtel_heap_probes_on_ratio "$RING")" ] ||
	fail "max-overhead 0: on-ratio $(series "$W/m2.txt" memtel_heap_probes_on_ratio "$RING")"
[ "$(series "$W/m2.txt" memtel_agent_heap_target_probe_pauses_total "$RING")" = 0 ] ||
	fail "max-overhead 0: $(series "$W/m2.txt" memtel_agent_heap_target_probe_pauses_total "$RING") pauses"
f=$(find "$OUT" -name "heap-*-$RING.pb.gz" | sort | tail -n 1)
[ -n "$f" ] || fail "no heap-*-$RING.pb.gz in $OUT"
pprof -raw "$f" 2>&1 | grep -q 'heap probes on' && fail "max-overhead 0: $f says partial"
kill -TERM "$RING"
wait_exit "$RING" 5
stop_agent

# 3. over OTLP, the default budget: the on-ratio under its resource
start_receiver recv
start_agent "$W/a3" --otlp-endpoint "http://127.0.0.1:$RECV_PORT"
start_ring "$W/r3" "$W/a3.err"
for ((k = 0; k < 150; k++)); do
	metrics "$W/m3.txt" && [ -n "$(series "$W/m3.txt" memtel_heap_probes_on_ratio "$RING")" ] && break
	alive "$AGENT" || fail "the agent exited"
	sleep 0.1
done
sleep 1.5
stop_agent
kill -TERM "$RING"
wait_exit "$RING" 5
PATH=/usr/bin:$PATH pycheck otlp_budget "$RECV_DIR/requests.jsonl" "$RING" <<'PY'
import sys
import otlp_wire
records, pid = sys.argv[1], int(sys.argv[2])
ratios = []
for r in otlp_wire.load_records(records):
    if r["path"] != "/v1/metrics":
        continue
    for rm in otlp_wire.parse_request(r["decoded"])["resource_metrics"]:
        a = dict(rm["resource"])
        if a.get("process.pid") is None or int(a["process.pid"]) != pid:
            continue
        for sm in rm["scope_metrics"]:
            for m in sm["metrics"]:
                if m["name"] == "memtel.heap.probes.on_ratio":
                    ratios += [p["value"] for p in m.get("points", [])]
if not ratios:
    print("FAIL: no memtel.heap.probes.on_ratio for pid %d over OTLP" % pid); sys.exit(1)
if not min(ratios) < 1:
    print("FAIL: on-ratio over OTLP %s, want < 1" % ratios); sys.exit(1)
print("pid %d: on-ratio over OTLP %s" % (pid, ["%.2f" % v for v in ratios[-3:]]))
PY
echo "PASS"
