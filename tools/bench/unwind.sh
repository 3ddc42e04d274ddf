#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench`, part 3: what one sample costs on the BPF side, and how many
# samples userspace unwinds and symbolizes per second of one CPU.
#
# BPF side: with kernel.bpf_stats_enabled=1 (set for the duration, then put
# back), run_time_ns / run_cnt of memtel-bpf's programs, found through the
# prog_id lines of its own /proc/PID/fdinfo (so other sessions on the host
# do not count), read with `bpftool prog show -j` twice while the workload
# runs; the difference is ns per run. The stats themselves add two clock
# reads per run.
#
# Userspace: memtel-bpf runs under .output/bench/cputime; its CPU time from
# when it was ready to its exit (sampling, unwinding with libdwfl,
# symbolizing, writing the profiles), divided into the samples it reports,
# gives samples per CPU-second. Four runs per round:
#   cpu-1999   -F 1999 --no-heap on cpusplit --threads 2 (both CPUs busy, so
#              almost every cpu_sample run copies a stack)
#   cpu-99     the same at the default 99 Hz: colder caches per sample, and
#              fixed costs weigh more in userspace
#   heap-all   --sample-bytes 1 --no-cpu on heapsites --repeat 200 (160k
#              allocations, each with an 8 KiB stack copy)
#   heap-default  default sampling --no-cpu on the same: the unsampled path
# over ceil(BENCH_ROUNDS / 2) rounds (throughputs are steadier than
# slowdowns), reported as medians. Appends a table to the report and
# "bpf_cost" and "unwind_throughput" to results.json.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

. tools/bench/lib.sh

CPUTIME=$OUT/cputime
CPUSPLIT=.output/workloads/cpusplit
HEAPSITES=.output/workloads/heapsites
U_ROUNDS=$(((ROUNDS + 1) / 2))
CPU_SECONDS=4
HEAP_REPEAT=200
RUNS=(cpu-1999 cpu-99 heap-all heap-default)

for f in "$MEMTEL" "$CPUTIME" "$CPUSPLIT" "$HEAPSITES"; do
	[ -x "$f" ] || die "$f is missing: run 'make bench'"
done
command -v bpftool >/dev/null || die "bpftool not found (tools/deps.sh installs it)"

STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
bench_on_exit() {
	sysctl -q -w kernel.bpf_stats_enabled="$STATS_WAS" ||
		echo "bench: could not restore kernel.bpf_stats_enabled=$STATS_WAS" >&2
}
sysctl -q -w kernel.bpf_stats_enabled=1 || die "cannot enable BPF stats"

# bpf_snapshot PID FILE: run_time_ns and run_cnt of the programs PID holds,
# summed by name, as JSON.
bpf_snapshot() {
	python3 - "$1" "$2" <<'PY'
import glob, json, subprocess, sys

pid, out = sys.argv[1], sys.argv[2]
ids = set()
for fd in glob.glob(f"/proc/{pid}/fdinfo/*"):
    try:
        for line in open(fd):
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    except OSError:
        pass	# fd closed meanwhile
progs = json.loads(subprocess.run(["bpftool", "prog", "show", "-j"], check=True,
                                  capture_output=True, text=True).stdout)
stats = {}
for p in progs:
    if p.get("id") in ids:
        s = stats.setdefault(p.get("name", "?"), [0, 0])
        s[0] += p.get("run_time_ns", 0)
        s[1] += p.get("run_cnt", 0)
json.dump(stats, open(out, "w"))
PY
}

# run_one RUN ROUND: one profiled run; appends a line to $TMP/results.tsv.
run_one() {
	local run=$1 round=$2 tag="$1-$2"
	local wl_out=$TMP/$tag.wl prof_out=$TMP/$tag.prof
	local wl prof pid cpu0 cpu_total rc samples dropped short failed t0
	local wl_cmd=() prof_opts=()

	case $run in
	cpu-*)
		wl_cmd=("$CPUSPLIT" --wait-signal --threads 2 --seconds "$CPU_SECONDS")
		prof_opts=(--no-heap -F "${run#cpu-}")
		;;
	heap-all)
		wl_cmd=("$HEAPSITES" --wait-signal --hold --repeat "$HEAP_REPEAT")
		prof_opts=(--no-cpu --sample-bytes 1)
		;;
	heap-default)
		wl_cmd=("$HEAPSITES" --wait-signal --hold --repeat "$HEAP_REPEAT")
		prof_opts=(--no-cpu)
		;;
	*) die "unknown run $run" ;;
	esac

	"${wl_cmd[@]}" >"$wl_out" 2>&1 &
	wl=$!
	PIDS+=("$wl")
	wait_for "$wl_out" '^ready ' 10 "$wl" || die "workload ($run) did not start"

	"$CPUTIME" "$TMP/$tag.cputime" "$MEMTEL" --pid "$wl" -o "$TMP/$tag.out" \
		"${prof_opts[@]}" >"$prof_out" 2>&1 &
	prof=$!
	PIDS+=("$prof")
	pid=$(cputime_pid "$TMP/$tag.cputime" 10 "$prof") || die "memtel-bpf ($run) did not start"
	wait_for "$prof_out" '^memtel-bpf: attached;' 30 "$prof" || die "memtel-bpf ($run) failed to attach"
	cpu0=$(proc_cpu_us "$pid") || die "memtel-bpf ($run) exited early: $(cat "$prof_out")"

	if [[ $run == cpu-* ]]; then
		# cpusplit runs for CPU_SECONDS and exits: read the counters
		# well inside that window (a snapshot can take a few hundred
		# ms on a busy VM, hence the deadline).
		kill -USR1 "$wl"
		t0=$(date +%s%N)
		sleep 0.3
		bpf_snapshot "$pid" "$TMP/$tag.bpf0"
		sleep "$(awk -v t0="$t0" -v now="$(date +%s%N)" -v s="$CPU_SECONDS" \
			'BEGIN { d = (t0 + (s - 1.3) * 1e9 - now) / 1e9; print (d > 0 ? d : 0) }')"
		bpf_snapshot "$pid" "$TMP/$tag.bpf1"
		[ "$(cat "$TMP/$tag.bpf1")" != "{}" ] ||
			echo "bench: warning: memtel-bpf ($run) had detached before the second BPF stats snapshot" >&2
		rc=0
		wait "$wl" || rc=$?
		forget "$wl"
		[ "$rc" -eq 0 ] || die "cpusplit exited with status $rc: $(cat "$wl_out")"
	else
		# heapsites --hold: counters before and after the allocations,
		# then SIGTERM ends it (and the session).
		bpf_snapshot "$pid" "$TMP/$tag.bpf0"
		kill -USR1 "$wl"
		wait_for "$wl_out" '^done' 120 "$wl" || die "heapsites did not finish"
		bpf_snapshot "$pid" "$TMP/$tag.bpf1"
		kill -TERM "$wl"
		wait "$wl" || true
		forget "$wl"
	fi

	reap "$prof" 120
	if [ "$REAP_RC" -ne 0 ]; then
		sed 's/^/  | /' "$prof_out" >&2
		die "memtel-bpf ($run) exited with status $REAP_RC"
	fi
	cpu_total=$(cputime_us "$TMP/$tag.cputime") || die "no CPU time for memtel-bpf ($run)"
	if [[ $run == cpu-* ]]; then
		samples=$(sed -n 's/^CPU: \([0-9]*\) samples.*/\1/p' "$prof_out")
	else
		samples=$(sed -n 's/^allocation calls seen: [0-9]*, sampled: \([0-9]*\).*/\1/p' "$prof_out")
	fi
	dropped=$(sed -n 's/^events dropped: \([0-9]*\).*/\1/p' "$prof_out")
	short=$(sed -n 's/^stacks cut short while the ring buffer was busy: \([0-9]*\).*/\1/p' "$prof_out")
	failed=$(sed -n 's/^stack copies failed: \([0-9]*\).*/\1/p' "$prof_out")
	[ -n "$samples" ] || die "memtel-bpf ($run) printed no sample count: $(cat "$prof_out")"
	rm -rf "$TMP/$tag.out"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$round" "$cpu0" \
		"$cpu_total" "$samples" "${dropped:-0}" "${short:-0}" "${failed:-0}" \
		"$(cat "$TMP/$tag.bpf0")" "$(cat "$TMP/$tag.bpf1")" >>"$TMP/results.tsv"
	printf '  round %d/%d  %-13s %7d samples, memtel-bpf %6.0f ms CPU after attach\n' \
		"$round" "$U_ROUNDS" "$run" "$samples" \
		"$(awk -v a="$cpu_total" -v b="$cpu0" 'BEGIN { print (a - b) / 1e3 }')" >&2
}

mkdir -p "$OUT"
: >"$TMP/results.tsv"
echo "bench: BPF cost and unwinding throughput, ${#RUNS[@]} runs x $U_ROUNDS rounds" >&2
for ((r = 1; r <= U_ROUNDS; r++)); do
	n=${#RUNS[@]}
	for ((j = 0; j < n; j++)); do
		run_one "${RUNS[$(((j + r - 1) % n))]}" "$r"
	done
done

python3 - "$TMP/results.tsv" "$RESULTS_JSON" "$U_ROUNDS" "$CPU_SECONDS" "$HEAP_REPEAT" <<'PY'
import json, os, statistics, sys, time

tsv, out = sys.argv[1], sys.argv[2]
rounds, secs, repeat = (int(a) for a in sys.argv[3:6])
order = ["cpu-1999", "cpu-99", "heap-all", "heap-default"]
med = statistics.median
runs = {}
for line in open(tsv):
    run, rnd, cpu0, cpu_total, samples, dropped, short, failed, b0, b1 = \
        line.rstrip("\n").split("\t")
    e = runs.setdefault(run, {"run": run, "samples": [], "cpu_after_ready_us": [],
                              "startup_cpu_us": [], "events_dropped": [],
                              "stacks_cut_short": [], "stack_copies_failed": [],
                              "bpf": {}})
    e["samples"].append(int(samples))
    e["startup_cpu_us"].append(int(cpu0))
    e["cpu_after_ready_us"].append(int(cpu_total) - int(cpu0))
    e["events_dropped"].append(int(dropped))
    e["stacks_cut_short"].append(int(short))
    e["stack_copies_failed"].append(int(failed))
    b0, b1 = json.loads(b0), json.loads(b1)
    for name, (t1, c1) in b1.items():
        t0, c0 = b0.get(name, (0, 0))
        if c1 > c0:
            p = e["bpf"].setdefault(name, {"ns_per_run": [], "runs": []})
            p["ns_per_run"].append((t1 - t0) / (c1 - c0))
            p["runs"].append(c1 - c0)

for e in runs.values():
    e["samples_per_cpu_s"] = med(s / (c / 1e6) for s, c in
                                 zip(e["samples"], e["cpu_after_ready_us"]) if c > 0)
    e["us_per_sample"] = 1e6 / e["samples_per_cpu_s"]
    for p in e["bpf"].values():
        p["median_ns_per_run"] = med(p["ns_per_run"])

notes = {
    "cpu-1999": f"memtel-bpf --no-heap -F 1999 on cpusplit --threads 2 --seconds {secs}",
    "cpu-99": f"memtel-bpf --no-heap -F 99 on cpusplit --threads 2 --seconds {secs}",
    "heap-all": f"memtel-bpf --no-cpu --sample-bytes 1 on heapsites --repeat {repeat}",
    "heap-default": f"memtel-bpf --no-cpu (default sampling) on heapsites --repeat {repeat}",
    "samples": "CPU samples (cpu-*) or sampled allocations (heap), as memtel-bpf's summary reports them",
    "cpu_after_ready_us": "memtel-bpf utime+stime from 'attached' to exit: unwinding, symbolizing, writing outputs",
    "ns_per_run": "BPF stats delta over the workload (kernel.bpf_stats_enabled=1); uprobe session programs run at entry and at return",
}
try:
    with open(out) as f:
        results = json.load(f)
except (OSError, ValueError):
    results = {}
date = time.strftime("%Y-%m-%dT%H:%M:%S%z")
results["bpf_cost"] = {
    "unit": "ns per program run (median over rounds)", "rounds": rounds, "date": date,
    "runs": {r: runs[r]["bpf"] for r in order if r in runs}, "notes": notes,
}
results["unwind_throughput"] = {
    "unit": "samples per CPU-second of memtel-bpf (median over rounds)", "rounds": rounds,
    "date": date, "runs": [runs[r] for r in order if r in runs], "notes": notes,
}
c99 = runs.get("cpu-99", {"bpf": {}})["bpf"].get("cpu_sample")
if c99:
    results["bpf_cost"]["cpu_sample_share_at_99hz_pct"] = 99 * c99["median_ns_per_run"] / 1e9 * 100
with open(out + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)

print()
print(f"BPF cost per program run (bpf_stats), median of {rounds} rounds")
print(f"{'run':<14}{'program':<16}{'ns/run':>9}{'min..max':>17}{'runs':>10}")
for r in order:
    for name, p in sorted(runs.get(r, {"bpf": {}})["bpf"].items()):
        rng = f"{min(p['ns_per_run']):.0f}..{max(p['ns_per_run']):.0f}"
        print(f"{r:<14}{name:<16}{p['median_ns_per_run']:>9.0f}{rng:>17}{med(p['runs']):>10.0f}")
c99 = runs.get("cpu-99", {"bpf": {}})["bpf"].get("cpu_sample")
if c99:
    share = results["bpf_cost"]["cpu_sample_share_at_99hz_pct"]
    print(f"cpu_sample at 99 Hz: {c99['median_ns_per_run'] / 1e3:.1f} us per run = "
          f"{share:.3f}% of a CPU (the BPF part of the 0.5% slowdown budget)")
print()
print(f"Userspace unwinding + symbolization, median of {rounds} rounds (memtel-bpf CPU after attach)")
print(f"{'run':<14}{'samples':>9}{'CPU ms':>9}{'samples/CPU-s':>15}{'us/sample':>11}"
      f"{'startup ms':>12}{'dropped':>9}{'cut short':>11}")
for r in order:
    if r not in runs:
        continue
    e = runs[r]
    print(f"{r:<14}{med(e['samples']):>9.0f}{med(e['cpu_after_ready_us']) / 1e3:>9.0f}"
          f"{e['samples_per_cpu_s']:>15.0f}{e['us_per_sample']:>11.1f}"
          f"{med(e['startup_cpu_us']) / 1e3:>12.0f}{max(e['events_dropped']):>9}"
          f"{max(e['stacks_cut_short']):>11}")
print("(dropped and cut short: the worst round; cpu-99 and heap-default have few samples,")
print(" so their rates are dominated by fixed costs: startup after attach, writing outputs)")
for r in order:
    if r in runs and max(runs[r]["stack_copies_failed"]):
        print(f"note: {r}: stack copies failed: {runs[r]['stack_copies_failed']}")
print(f"\nresults: {out} (bpf_cost, unwind_throughput)")
PY
