#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench`, part 5: what `memtel-bpf agent` costs in steady state (the
# issue's budget: <= 1% of one core and <= 100 MB RSS at 99 Hz without
# heap targets on a 2-CPU host with a few hundred processes).
#
# Population, started here and stopped on exit: BENCH_AGENT_SLEEPERS
# (default 300) sleeping processes (sleep, and sh waiting on one), and a
# few CPU-busy ones running different binaries at nice 19 (so they take
# idle CPU only): a recursive python3 loop, an sh loop, gzip of a stream,
# and the Go workload (tools/workloads/go/goheap, when go is installed)
# restarted every second or so. The agent runs at 99 Hz with -o (pprof
# rotations into a scratch directory), warms up for BENCH_AGENT_WARMUP
# seconds (default 30), then for BENCH_AGENT_SECONDS (default 180):
#   cpu    utime + stime delta of the agent (/proc/PID/stat, all threads)
#          over the wall time, in % of one core
#   rss    VmRSS sampled every 2 s: median and max (and RssAnon's)
# Configurations: "none" (no heap targets) and, when `memtel-bpf agent
# --help` lists --heap-target, "one" (--heap-target comm=mallocbench on an
# allocating workload, .output/bench/mallocbench, mixed sizes, nice 19).
# The host is shared: the agent samples every process on it (--all), so
# other people's jobs change its load; each row says the load average.
# Appends "agent" to results.json.
#
# A/B of builds: BENCH_AGENT_BINS="old new" (paths of memtel-bpf binaries,
# default ./memtel-bpf) runs each configuration with every binary in turn,
# BENCH_AGENT_ROUNDS times (default 1), alternating, on the same
# population; rows are then "CFG@BIN" with the median over the rounds.
# BENCH_AGENT_CONFIGS="none" limits the configurations.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

. tools/bench/lib.sh

SECONDS_RUN=${BENCH_AGENT_SECONDS:-180}
WARMUP=${BENCH_AGENT_WARMUP:-30}
SLEEPERS=${BENCH_AGENT_SLEEPERS:-300}
AB_ROUNDS=${BENCH_AGENT_ROUNDS:-1}
read -r -a BINS <<<"${BENCH_AGENT_BINS:-$MEMTEL}"
ALLOC=$OUT/mallocbench
for v in "$SECONDS_RUN" "$WARMUP" "$SLEEPERS" "$AB_ROUNDS"; do
	[[ "$v" =~ ^[0-9]+$ ]] || die "BENCH_AGENT_* must be whole numbers"
done
[ "$SECONDS_RUN" -ge 10 ] || die "BENCH_AGENT_SECONDS must be at least 10"
[ "$AB_ROUNDS" -ge 1 ] || die "BENCH_AGENT_ROUNDS must be at least 1"
[ "${#BINS[@]}" -ge 1 ] || die "BENCH_AGENT_BINS is empty"
for b in "${BINS[@]}"; do
	[ -x "$b" ] || die "$b is missing: run 'make bench'"
done
MEMTEL=${BINS[0]}

CONFIGS=(none)
# the help text in a variable first: with pipefail, `grep -q` leaving
# early kills the writer with SIGPIPE and the test fails at random
HELP=$("$MEMTEL" agent --help 2>&1 || true)
if [ -n "${BENCH_AGENT_CONFIGS:-}" ]; then
	read -r -a CONFIGS <<<"$BENCH_AGENT_CONFIGS"
elif grep -q -- '--heap-target' <<<"$HELP"; then
	CONFIGS+=(one)
else
	echo "bench: agent: this build has no --heap-target: one-target row skipped" >&2
fi
for cfg in "${CONFIGS[@]}"; do
	case $cfg in
	none) ;;
	one) [ -x "$ALLOC" ] || die "$ALLOC is missing: run 'make bench'" ;;
	*) die "BENCH_AGENT_CONFIGS: unknown configuration $cfg (none, one)" ;;
	esac
done

# bg CMD...: start CMD in the background, remembered for cleanup.
bg() {
	"$@" >/dev/null 2>&1 </dev/null &
	PIDS+=("$!")
}

start_population() {
	local i
	for ((i = 0; i < SLEEPERS; i++)); do
		if ((i % 10 == 9)); then
			bg sh -c 'sleep 1000000; :'
		else
			bg sleep 1000000
		fi
	done
	bg nice -n 19 python3 -c '
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
while True:
    fib(20)'
	bg nice -n 19 sh -c 'while :; do :; done'
	bg nice -n 19 sh -c 'while :; do head -c 50000000 /dev/zero | gzip -6 >/dev/null; done'
	if command -v go >/dev/null; then
		cp -r tools/workloads/go/goheap "$TMP/goheap.src"
		if (cd "$TMP/goheap.src" &&
			export GOCACHE=$TMP/gocache GOPATH=$TMP/gopath GOFLAGS=-mod=mod \
				GOPROXY=off GO111MODULE=on CGO_ENABLED=0 &&
			go mod init goheap && go build -o "$TMP/goheap" .) >"$TMP/go.log" 2>&1; then
			bg nice -n 19 sh -c "while :; do '$TMP/goheap' -count 200; sleep 1; done"
		else
			echo "bench: agent: go build failed, no Go workload: $(tail -1 "$TMP/go.log")" >&2
		fi
	fi
}

# run_one CFG BIN LABEL [TAG]: one agent run of binary BIN in
# $TMP/agent-CFG[TAG]; appends a line (labelled LABEL) to $TMP/agent.tsv.
run_one() {
	local cfg=$1 bin=$2 label=$3 dir=$TMP/agent-$1${4:-} port agent wl='' c0 c1 t0 t1 end extra=()

	rm -rf "$dir"
	mkdir -p "$dir/prof"
	if [ "$cfg" = one ]; then
		nice -n 19 "$ALLOC" 1000000000000 mixed >"$dir/alloc.out" 2>&1 </dev/null &
		wl=$!
		PIDS+=("$wl")
		# it waits for SIGUSR1 once its handler is in place
		wait_for "$dir/alloc.out" '^ready ' 10 "$wl" || die "the allocating workload did not start"
		kill -USR1 "$wl"
		extra=(--heap-target comm=mallocbench)
	fi
	port=$((20000 + RANDOM % 20000))
	"$bin" agent -F 99 -o "$dir/prof" --keep-files 5 \
		--listen "127.0.0.1:$port" "${extra[@]}" >"$dir/out" 2>&1 &
	agent=$!
	PIDS+=("$agent")
	wait_for "$dir/out" '^memtel-bpf: attached;' 90 "$agent" || die "the agent ($cfg) did not attach"
	sleep "$WARMUP"
	c0=$(proc_cpu_us "$agent") || die "the agent ($cfg) exited: $(tail -3 "$dir/out")"
	t0=$(date +%s%N)
	: >"$dir/rss"
	end=$(($(date +%s) + SECONDS_RUN))
	while [ "$(date +%s)" -lt "$end" ]; do
		awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 } END { print r, a }' \
			"/proc/$agent/status" >>"$dir/rss" ||
			die "the agent ($cfg) exited: $(tail -3 "$dir/out")"
		sleep 2
	done
	c1=$(proc_cpu_us "$agent") || die "the agent ($cfg) exited: $(tail -3 "$dir/out")"
	t1=$(date +%s%N)
	kill -TERM "$agent"
	reap "$agent" 15
	[ "$REAP_RC" -eq 0 ] || die "the agent ($cfg) exited with status $REAP_RC: $(tail -3 "$dir/out")"
	if [ -n "$wl" ]; then
		kill -TERM "$wl" 2>/dev/null || true
		wait "$wl" 2>/dev/null || true
		forget "$wl"
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$((c1 - c0))" "$(((t1 - t0) / 1000))" \
		"$(tr '\n' ' ' <"$dir/rss")" "$(cut -d' ' -f1 /proc/loadavg)" >>"$TMP/agent.tsv"
}

echo "bench: agent: $SLEEPERS sleepers + busy workloads, ${WARMUP}s warm-up, ${SECONDS_RUN}s per configuration (${CONFIGS[*]})" >&2
start_population
sleep 2
: >"$TMP/agent.tsv"
for ((round = 0; round < AB_ROUNDS; round++)); do
	for cfg in "${CONFIGS[@]}"; do
		for ((b = 0; b < ${#BINS[@]}; b++)); do
			# alternate the order between rounds (ABBA...)
			if ((round % 2)); then
				bi=$((${#BINS[@]} - 1 - b))
			else
				bi=$b
			fi
			label=$cfg tag=
			if [ "${#BINS[@]}" -gt 1 ]; then
				label=$cfg@${BINS[bi]} tag=-$bi
			fi
			echo "bench: agent: round $((round + 1))/$AB_ROUNDS: $label" >&2
			run_one "$cfg" "${BINS[bi]}" "$label" "$tag"
		done
	done
done

mkdir -p "$OUT"
python3 - "$TMP/agent.tsv" "$RESULTS_JSON" "$SLEEPERS" <<'PY'
import json, os, statistics, sys, time

tsv, out, sleepers = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {}
for line in open(tsv):
    cfg, cpu_us, wall_us, rss, load = line.rstrip("\n").split("\t")
    samples = [int(x) for x in rss.split()]
    vm, anon = samples[0::2], samples[1::2]
    mb = lambda kib: kib * 1024 / 1e6
    runs.setdefault(cfg, []).append({
        "cpu_percent_of_one_core": 100.0 * int(cpu_us) / int(wall_us),
        "seconds": int(wall_us) / 1e6,
        "rss_mb_median": mb(statistics.median(vm)), "rss_mb_max": mb(max(vm)),
        "anon_mb_median": mb(statistics.median(anon)), "anon_mb_max": mb(max(anon)),
        "load_average_at_end": float(load),
    })
# one run: that run; several (BENCH_AGENT_ROUNDS): the median of each
# figure, and every run's CPU % for the spread
rows = {}
for cfg, rs in runs.items():
    if len(rs) == 1:
        rows[cfg] = rs[0]
        continue
    rows[cfg] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
    rows[cfg]["rss_mb_max"] = max(r["rss_mb_max"] for r in rs)
    rows[cfg]["anon_mb_max"] = max(r["anon_mb_max"] for r in rs)
    rows[cfg]["rounds"] = len(rs)
    rows[cfg]["cpu_percent_runs"] = [r["cpu_percent_of_one_core"] for r in rs]
try:
    with open(out) as f:
        results = json.load(f)
except (OSError, ValueError):
    results = {}
budget = {"cpu_percent_max": 1.0, "rss_mb_max": 100.0}
# the budget is judged per build: "none", or each "none@BIN" of an A/B run
def within(r):
    return (r["cpu_percent_of_one_core"] <= budget["cpu_percent_max"]
            and r["rss_mb_max"] <= budget["rss_mb_max"])
met_by = {cfg.partition("@")[2] or "-": within(r) for cfg, r in rows.items()
          if cfg.partition("@")[0] == "none"}
results["agent"] = {
    "unit": "agent CPU in % of one core, RSS in MB (10^6 bytes)",
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "population": f"{sleepers} sleepers, python3/sh/gzip/Go busy loops at nice 19",
    "freq_hz": 99, "heap_targets": rows, "budget_without_heap_targets": budget,
    "met": bool(met_by) and all(met_by.values()),
}
if len(met_by) > 1 or "-" not in met_by:
    results["agent"]["met_by_binary"] = met_by
with open(out + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
print()
print(f"memtel-bpf agent at 99 Hz, {sleepers} sleepers + busy workloads "
      f"({os.cpu_count()} CPUs, shared host)")
w = max([14] + [len(c) + 2 for c in rows])
print(f"{'heap targets':<{w}}{'CPU %':>8}{'RSS med':>9}{'RSS max':>9}{'anon med':>10}{'load':>7}")
for cfg, r in rows.items():
    runs_txt = ""
    if "cpu_percent_runs" in r:
        runs_txt = "  runs: " + " ".join(f"{c:.2f}" for c in r["cpu_percent_runs"])
    print(f"{cfg:<{w}}{r['cpu_percent_of_one_core']:>8.2f}{r['rss_mb_median']:>9.1f}"
          f"{r['rss_mb_max']:>9.1f}{r['anon_mb_median']:>10.1f}{r['load_average_at_end']:>7.2f}{runs_txt}")
for b, ok in met_by.items():
    by = "" if b == "-" else f" ({b})"
    print(f"budget without heap targets{by}: <= {budget['cpu_percent_max']}% CPU, "
          f"<= {budget['rss_mb_max']:.0f} MB RSS: {'met' if ok else 'NOT met'}")
PY
