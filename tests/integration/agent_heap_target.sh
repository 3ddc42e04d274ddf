#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-bpf agent's heap targets by selector: with the agent attached
# (pprof files in -o DIR, /metrics on a free port) and nothing matching,
#  - a leaker started later, named by comm=, gets heap probes within 3 s
#    (the log line), and one started into a cgroup (a shell that moves
#    itself there, then execs), named by cgroup=, as well;
#  - /metrics counts 2 heap targets and has the memory metrics for each
#    pid, the leaking function's allocations non-zero, and each target's
#    probe hits (non-zero) and estimated overhead;
#  - when both exit they are released: 0 targets, no uprobe_multi link
#    left open by the agent, its fds back where they were (but for the
#    ELF copies of the processes it CPU-samples, which follow the host);
#  - a third leaker attached, SIGTERM gives a final window: a new
#    heap-*-PID.pb.gz written after the signal whose in-use top function
#    is leak_steady, and the agent exits 0 within 10 s;
#  - with an OTLP endpoint instead: a target's heap profiles (inuse_space,
#    naming leak_steady) and its memory metrics under its own resource
#    (process.pid) reach the collector, the final window included; with
#    --max-heap-targets 1 a second match gets no probes, one line says so
#    and memtel.agent.heap_targets.refused counts it.
# The workloads are copies of leaker under names of this run's own, so a
# leaker of another test on the host never matches.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_workloads
# shellcheck source=../lib/cgroup.sh
. "$(dirname "$0")/../lib/cgroup.sh"
cgroup_setup "memtel-heap-target-$$"
mkcg app
CGREL=${CGDIR#"$CG"}

NAME1=hta$$
NAME2=htb$$
cp "$MEMTEL_WL_DIR/leaker" "$W/$NAME1" && cp "$MEMTEL_WL_DIR/leaker" "$W/$NAME2" ||
	fail "cannot copy the leaker workload"
# blocks of 4 sampling means: nearly every one sampled, so that even a
# leaker slowed down by a busy host shows its allocations at once
LEAK_ARGS=(--seconds 120 --tick-ms 20 --leak-bytes 65536)

PORT=$(free_port)
OUT=$W/out
watch_log "$W/agent.out" "$W/agent.err" "$W/w2.err"
spawn "$W/agent.out" "$W/agent.err" "$MEMTEL_BIN" agent -o "$OUT" \
	--export-interval 1 --listen "127.0.0.1:$PORT" --sample-bytes 16384 \
	--heap-target "comm=$NAME1" --heap-target "cgroup=$CGREL"
AGENT=$SPAWN_PID

metrics() { curl -sf -m 5 "http://127.0.0.1:$PORT/metrics" >"$1"; }
value() { # FILE METRIC: the value of an unlabelled series
	awk -v m="$2" '$1 == m { print $2 }' "$1"
}
# wait_targets N SECONDS: /metrics says N heap targets
wait_targets() {
	local k
	for ((k = 0; k < $2 * 10; k++)); do
		metrics "$W/m.txt" && [ "$(value "$W/m.txt" memtel_agent_heap_targets)" = "$1" ] &&
			return 0
		alive "$AGENT" || fail "the agent exited"
		sleep 0.1
	done
	return 1
}
links() { # uprobe_multi links the agent holds open
	grep -l 'link_type:.*uprobe_multi' /proc/"$AGENT"/fdinfo/* 2>/dev/null | wc -l
}
# the agent's fds but the ELF copies of the processes it CPU-samples (the
# whole host's churn) and sockets (HTTP clients come and go)
fds() {
	find /proc/"$AGENT"/fd -mindepth 1 -printf '%l\n' 2>/dev/null |
		grep -Evc '^/memfd:memtel-|^socket:'
}

for ((k = 0; k < 300; k++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
	alive "$AGENT" || fail "the agent exited"
	sleep 0.1
done
[ "$k" -lt 300 ] || fail "the agent never became ready"
wait_targets 0 5 || fail "heap targets at start: $(value "$W/m.txt" memtel_agent_heap_targets), want 0"
sleep 1.5 # a window: the agent's own state settles
FDS0=$(fds)
[ "$(links)" = 0 ] || fail "uprobe_multi links open before any heap target: $(links)"

# 1. started after the agent: comm= and cgroup=
t0=$(date +%s.%N)
spawn "$W/w1.out" "$W/w1.err" "$W/$NAME1" "${LEAK_ARGS[@]}"
P1=$SPAWN_PID
wait_for_line "$W/agent.err" "heap target pid $P1 .*comm=$NAME1" 10 "$AGENT" ||
	fail "pid $P1 ($NAME1) never became a heap target"
t1=$(date +%s.%N)
spawn "$W/w2.out" "$W/w2.err" sh -c 'echo $$ >"$1/cgroup.procs" && p=$2 && shift 2 && exec "$p" "$@"' \
	sh "$CGDIR" "$W/$NAME2" "${LEAK_ARGS[@]}"
P2=$SPAWN_PID
wait_for_line "$W/agent.err" "heap target pid $P2 .*cgroup=$CGREL" 10 "$AGENT" ||
	fail "pid $P2 (in $CGREL) never became a heap target"
lat=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
log "comm= target attached $lat s after its start"
awk -v l="$lat" 'BEGIN { exit !(l < 3) }' || fail "attached $lat s after the start, want < 3 s"
grep -q "heap target pid $P2 .*comm=" "$W/agent.err" && fail "pid $P2 matched by comm"
wait_targets 2 5 || fail "/metrics: $(value "$W/m.txt" memtel_agent_heap_targets) heap targets, want 2"
[ "$(links)" -ge 2 ] || fail "$(links) uprobe_multi links with two heap targets"

# 2. their memory metrics on /metrics, non-zero where they allocate (the
# leak size and block count have series once a stack is a suspect: 30 s)
# (a component gets its own series at a window's end: a few windows)
has_allocs() { # FILE PID
	grep -q "^memory_allocation_count_total{component=\"leak_steady\".*process_pid=\"$2\"" "$1"
}
for ((k = 0; k < 150; k++)); do
	metrics "$W/m2.txt" && has_allocs "$W/m2.txt" "$P1" && has_allocs "$W/m2.txt" "$P2" && break
	alive "$AGENT" || fail "the agent exited"
	sleep 0.1
done
for pid in "$P1" "$P2"; do
	for m in memory_rss_bytes memory_heap_bytes memory_virtual_bytes \
		memory_leak_count_total memory_leak_growth_rate_mb_h_megabytes_per_hour \
		memory_allocation_count_total memory_allocation_bytes_total \
		memory_allocation_size_bytes_bucket memory_allocation_efficiency_score_ratio \
		memory_allocator_total_bytes memory_allocation_distribution_total \
		memtel_agent_heap_target_probe_hits_total memtel_agent_heap_target_overhead_ratio; do
		grep -q "^$m{.*process_pid=\"$pid\"" "$W/m2.txt" || fail "/metrics has no $m for pid $pid"
	done
	n=$(awk -v p="process_pid=\"$pid\"" 'index($0, "memory_allocation_count_total{component=\"leak_steady\"") == 1 &&
		index($0, p) { print $2 }' "$W/m2.txt")
	awk -v n="${n:-0}" 'BEGIN { exit !(n > 0) }' ||
		fail "pid $pid: memory_allocation_count_total for leak_steady is '${n:-none}'"
	hits=$(awk -v p="process_pid=\"$pid\"" 'index($0, "memtel_agent_heap_target_probe_hits_total{") == 1 &&
		index($0, p) { print $2 }' "$W/m2.txt")
	awk -v n="${hits:-0}" 'BEGIN { exit !(n > 0) }' || fail "pid $pid: probe hits '${hits:-none}'"
	log "pid $pid: leak_steady allocations $n, probe hits $hits"
done
# each series once: the agent's own gauges make way for a target's
dups=$(grep -v '^#' "$W/m2.txt" | awk '{ print $1 }' | sort | uniq -d | head -3)
[ -z "$dups" ] || fail "series twice on /metrics: $dups"
promtool check metrics <"$W/m2.txt" >"$W/promtool.txt" 2>&1 ||
	! grep -v 'mb_h_megabytes_per_hour' "$W/promtool.txt" | grep -q . ||
	{ watch_log "$W/promtool.txt"; fail "promtool check metrics rejects /metrics"; }

# 3. released when they exit
kill -TERM "$P1" "$P2"
wait_exit "$P1" 5 && wait_exit "$P2" 5 || fail "the workloads did not stop"
wait_targets 0 5 || fail "/metrics: $(value "$W/m.txt" memtel_agent_heap_targets) heap targets after both exited, want 0"
grep -q "heap target pid $P1 released: it exited" "$W/agent.err" || fail "no release line for $P1"
sleep 1
[ "$(links)" = 0 ] || fail "$(links) uprobe_multi links still open after the targets exited"
FDS1=$(fds)
log "agent fds: $FDS0 before the targets, $FDS1 after"
[ "$FDS1" -le $((FDS0 + 2)) ] || fail "the agent's fds grew from $FDS0 to $FDS1"

# 4. SIGTERM: the final window has a heap profile of a live target
spawn "$W/w3.out" "$W/w3.err" "$W/$NAME1" "${LEAK_ARGS[@]}"
P3=$SPAWN_PID
wait_for_line "$W/agent.err" "heap target pid $P3 " 10 "$AGENT" || fail "pid $P3 never became a heap target"
# its allocations seen (a window has them), then the signal right after a
# window, so that the next regular one is a second away
for ((k = 0; k < 150; k++)); do
	metrics "$W/m.txt" && has_allocs "$W/m.txt" "$P3" && break
	sleep 0.1
done
[ "$k" -lt 150 ] || fail "no allocations of pid $P3 on /metrics within 15 s"
n0=$(find "$OUT" -name "heap-*-$P3.pb.gz" | wc -l)
for ((k = 0; k < 30; k++)); do
	[ "$(find "$OUT" -name "heap-*-$P3.pb.gz" | wc -l)" -gt "$n0" ] && break
	sleep 0.05
done
before=$(find "$OUT" -name "heap-*-$P3.pb.gz" | sort)
metrics "$W/m3.txt"
kill -TERM "$AGENT"
wait_exit "$AGENT" 10 || fail "the agent did not exit within 10 s of SIGTERM"
assert_exit 0 "memtel-bpf agent"
final=$(comm -13 <(echo "$before") <(find "$OUT" -name "heap-*-$P3.pb.gz" | sort) | tail -n 1)
[ -n "$final" ] || fail "no heap profile of pid $P3 written after SIGTERM"
pprof -top -sample_index=inuse_space "$final" >"$W/top.txt" 2>&1 || fail "go tool pprof cannot read $final"
watch_log "$W/top.txt"
awk '$NF == "leak_steady" && $1 != "0" { f = 1 } END { exit !f }' "$W/top.txt" ||
	fail "the final heap profile does not name leak_steady"
log "final heap profile: $(basename "$final")"
kill -TERM "$P3"
wait_exit "$P3" 5

# 5. the same over OTLP: profiles and metrics of the target's resource
start_receiver recv
PORT2=$(free_port)
watch_log "$W/agent2.out" "$W/agent2.err"
spawn "$W/agent2.out" "$W/agent2.err" "$MEMTEL_BIN" agent \
	--otlp-endpoint "http://127.0.0.1:$RECV_PORT" --export-interval 1 \
	--listen "127.0.0.1:$PORT2" --sample-bytes 16384 --heap-target "comm=$NAME1" \
	--max-heap-targets 1
AGENT=$SPAWN_PID
wait_for_line "$W/agent2.err" "0 heap target\\(s\\) attached at start" 30 "$AGENT" ||
	fail "the second agent did not start"
spawn "$W/w4.out" "$W/w4.err" "$W/$NAME1" "${LEAK_ARGS[@]}"
P4=$SPAWN_PID
wait_for_line "$W/agent2.err" "heap target pid $P4 " 10 "$AGENT" || fail "pid $P4 never became a heap target"
# past --max-heap-targets: one line, counted, no probes
spawn "$W/w5.out" "$W/w5.err" "$W/$NAME1" "${LEAK_ARGS[@]}"
P5=$SPAWN_PID
wait_for_line "$W/agent2.err" "bound of 1 \\(--max-heap-targets\\) is reached: pid $P5 " 10 "$AGENT" ||
	fail "no line about the bound for pid $P5"
grep -q "heap target pid $P5 " "$W/agent2.err" && fail "pid $P5 got probes past the bound"
sleep 2
curl -sf -m 5 "http://127.0.0.1:$PORT2/metrics" >"$W/m5.txt" || fail "GET /metrics failed"
[ "$(value "$W/m5.txt" memtel_agent_heap_targets)" = 1 ] || fail "heap targets past the bound: $(value "$W/m5.txt" memtel_agent_heap_targets)"
grep -q '^memtel_agent_heap_targets_refused_total{reason="max_heap_targets"} 1$' "$W/m5.txt" ||
	fail "refused heap targets: $(grep refused_total "$W/m5.txt")"
sleep 1
kill -TERM "$AGENT"
wait_exit "$AGENT" 10 || fail "the second agent did not exit within 10 s of SIGTERM"
assert_exit 0 "memtel-bpf agent (OTLP)"
PATH=/usr/bin:$PATH pycheck heap_otlp "$RECV_DIR/requests.jsonl" "$P4" <<'PY'
import sys
import otlp_profiles_check as opc
import otlp_wire
records, pid = sys.argv[1], int(sys.argv[2])
svc = opc.load_schema()
inuse = 0
for where, body, _ in opc.records(records, False):
    req = svc.ExportProfilesServiceRequest()
    req.ParseFromString(body)
    st = list(req.dictionary.string_table)
    for rp in req.resource_profiles:
        a = {kv.key: kv.value for kv in rp.resource.attributes}
        if "process.pid" not in a or a["process.pid"].int_value != pid:
            continue
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                if st[p.sample_type.type_strindex] == "inuse_space" and \
                        len(p.samples) and "leak_steady" in st:
                    inuse += 1
names = set()
for r in otlp_wire.load_records(records):
    if r["path"] != "/v1/metrics":
        continue
    for rm in otlp_wire.parse_request(r["decoded"])["resource_metrics"]:
        a = dict(rm["resource"])
        if a.get("process.pid") is None or int(a["process.pid"]) != pid:
            continue
        for sm in rm["scope_metrics"]:
            names |= {m["name"] for m in sm["metrics"]}
want = {"memory.allocation.count", "memory.allocation.total_bytes",
        "memory.allocation.size_bytes", "memory.rss_bytes",
        "memory.heap_bytes", "memtel.agent.heap_target.probe_hits"}
if not inuse:
    print("FAIL: no inuse_space heap profile naming leak_steady for pid %d" % pid); sys.exit(1)
if want - names:
    print("FAIL: OTLP metrics of pid %d lack %s" % (pid, sorted(want - names))); sys.exit(1)
print("pid %d: %d in-use heap profiles, %d metrics over OTLP" % (pid, inuse, len(names)))
PY
echo "PASS"
