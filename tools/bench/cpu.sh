#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench`, part 2: how much the 99 Hz CPU profiler slows a CPU-bound
# program, against no profiling and against its peers, `perf record -F 99
# -g` and `bpftrace -e 'profile:hz:99 { @[ustack] = count() }'`. Target: at
# most 0.5% slowdown, and no worse than either peer.
#
# The workload (.output/bench/cpubench) is one thread doing a fixed amount
# of work (about 3 s) and timing it itself: wall time (CLOCK_MONOTONIC) and
# CPU time (getrusage). Each profiler attaches by pid while the workload
# waits, and stops when it exits. Configurations are interleaved over
# BENCH_ROUNDS rounds (default 7) and reported as medians; slowdown % =
# (t_cfg / t_none - 1) * 100. The VM is shared and wall times move with
# other people's jobs; the CPU time of the workload still includes the
# sampling interrupt and the BPF program (no IRQ time accounting here), but
# not the time spent waiting for a CPU, so it is the steadier of the two.
#
# Each profiler runs under .output/bench/cputime, which records its own CPU
# time (utime + stime, all threads, up to its exit); the part spent after
# it was ready (from /proc/PID/stat at that point) is reported per second of
# profiled work. memtel-bpf unwinds and symbolizes in that time; perf
# record only writes raw samples (perf report does the rest later), and
# bpftrace symbolizes its stacks when it prints them at exit.
#
# Appends a table to the report and "cpu_overhead" to results.json.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

. tools/bench/lib.sh

WORKLOAD=$OUT/cpubench
CPUTIME=$OUT/cputime
UNITS=${BENCH_CPU_UNITS:-18000}
HZ=99
CONFIGS=(none memtel-cpu memtel-heap perf-fp perf-dwarf bpftrace)

for f in "$MEMTEL" "$WORKLOAD" "$CPUTIME"; do
	[ -x "$f" ] || die "$f is missing: run 'make bench'"
done
[[ "$UNITS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_CPU_UNITS must be a positive integer"
command -v bpftrace >/dev/null || die "bpftrace not found (tools/deps.sh installs it)"
# perf is a peer here; tools/deps.sh does not list it (yet).
if ! command -v perf >/dev/null; then
	echo "bench: perf not found: installing Debian's linux-perf" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends linux-perf >&2 ||
		{ apt-get update -q >&2 &&
		  apt-get install -y -q --no-install-recommends linux-perf >&2; } ||
		die "could not install linux-perf"
fi

# start_profiler CFG WL TAG: start configuration CFG's profiler on pid WL
# under cputime; returns once it samples. Sets PROF (the cputime pid) and
# PROF_PID (the profiler's own pid).
start_profiler() {
	local cfg=$1 wl=$2 tag=$3 prof_out=$TMP/$3.prof ack
	local cmd=()

	case $cfg in
	memtel-cpu) cmd=("$MEMTEL" --no-heap --pid "$wl" -F "$HZ" -o "$TMP/$tag.out") ;;
	memtel-heap) cmd=("$MEMTEL" --pid "$wl" -F "$HZ" -o "$TMP/$tag.out") ;;
	perf-fp | perf-dwarf)
		# Events start disabled; "enable" on the control fifo, acked
		# once they are on, tells us when sampling has begun.
		mkfifo "$TMP/$tag.ctl" "$TMP/$tag.ack"
		cmd=(perf record -F "$HZ" -e cpu-clock -p "$wl" -o "$TMP/$tag.data"
			-D -1 --control "fifo:$TMP/$tag.ctl,$TMP/$tag.ack")
		if [ "$cfg" = perf-fp ]; then
			cmd+=(-g)
		else
			cmd+=(--call-graph dwarf)
		fi
		;;
	bpftrace)
		cmd=(bpftrace -B line -p "$wl" -e "BEGIN { printf(\"bench-ready\\n\"); }
profile:hz:$HZ /pid == $wl/ { @[ustack] = count(); }")
		;;
	*) die "unknown configuration $cfg" ;;
	esac

	"$CPUTIME" "$TMP/$tag.cputime" "${cmd[@]}" >"$prof_out" 2>&1 &
	PROF=$!
	PIDS+=("$PROF")
	PROF_PID=$(cputime_pid "$TMP/$tag.cputime" 10 "$PROF") || die "$cfg did not start"

	case $cfg in
	memtel-*)
		wait_for "$prof_out" '^memtel-bpf: attached;' 30 "$PROF" ||
			die "$cfg failed to attach"
		;;
	perf-*)
		# Read-write opens of a fifo do not block, even before perf
		# opens its ends.
		exec 8<>"$TMP/$tag.ctl" 9<>"$TMP/$tag.ack"
		echo enable >&8
		ack=
		read -r -t 30 ack <&9 || true
		exec 8>&- 9<&-
		[ "$ack" = ack ] || {
			sed 's/^/  | /' "$prof_out" >&2
			die "$cfg did not enable its events"
		}
		;;
	bpftrace)
		wait_for "$prof_out" '^bench-ready$' 60 "$PROF" ||
			die "bpftrace failed to attach"
		;;
	esac
}

# run_one CONFIG ROUND: one timed run; appends a line to $TMP/results.tsv.
run_one() {
	local cfg=$1 round=$2 tag="$1-$2"
	local wl_out=$TMP/$tag.wl prof_out=$TMP/$tag.prof
	local wl wall cpu rc cpu0=- cpu_total=- samples=- dropped=-

	"$WORKLOAD" "$UNITS" >"$wl_out" 2>&1 &
	wl=$!
	PIDS+=("$wl")
	wait_for "$wl_out" '^ready ' 10 "$wl" || die "workload did not start"

	PROF=
	if [ "$cfg" != none ]; then
		start_profiler "$cfg" "$wl" "$tag"
		cpu0=$(proc_cpu_us "$PROF_PID") || die "$cfg exited early: $(cat "$prof_out")"
	fi

	kill -USR1 "$wl"
	rc=0
	wait "$wl" || rc=$?
	forget "$wl"
	[ "$rc" -eq 0 ] || die "workload ($cfg) exited with status $rc: $(cat "$wl_out")"
	wall=$(awk '$1 == "wall_ns" { print $2 }' "$wl_out")
	cpu=$(awk '$1 == "cpu_ns" { print $2 }' "$wl_out")
	{ [ -n "$wall" ] && [ -n "$cpu" ]; } || die "workload ($cfg) printed no result: $(cat "$wl_out")"

	if [ -n "$PROF" ]; then
		# All of them stop when the target exits.
		reap "$PROF" 60
		if [ "$REAP_RC" -ne 0 ] && [ "$cfg" != bpftrace ]; then
			sed 's/^/  | /' "$prof_out" >&2
			die "$cfg exited with status $REAP_RC"
		fi
		cpu_total=$(cputime_us "$TMP/$tag.cputime") || die "no CPU time for $cfg"
		case $cfg in
		memtel-*)
			samples=$(sed -n 's/^CPU: \([0-9]*\) samples.*/\1/p' "$prof_out")
			dropped=$(sed -n 's/^events dropped: \([0-9]*\).*/\1/p' "$prof_out")
			rm -rf "$TMP/$tag.out"
			;;
		perf-*)
			samples=$(sed -n 's/.*(\([0-9]*\) samples).*/\1/p' "$prof_out")
			rm -f "$TMP/$tag.data"
			;;
		bpftrace)
			samples=$(awk '/^\]: [0-9]+$/ { n += $2 } END { print n + 0 }' "$prof_out")
			;;
		esac
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "$wall" "$cpu" \
		"$cpu0" "$cpu_total" "${samples:--}" "${dropped:--}" >>"$TMP/results.tsv"
	printf '  round %d/%d  %-12s %8.3f s wall %8.3f s CPU\n' "$round" "$ROUNDS" \
		"$cfg" "$(awk -v n="$wall" 'BEGIN { print n / 1e9 }')" \
		"$(awk -v n="$cpu" 'BEGIN { print n / 1e9 }')" >&2
}

mkdir -p "$OUT"
: >"$TMP/results.tsv"
echo "bench: CPU profiling overhead, ${#CONFIGS[@]} configurations x $ROUNDS rounds (interleaved)" >&2
for ((r = 1; r <= ROUNDS; r++)); do
	n=${#CONFIGS[@]}
	for ((j = 0; j < n; j++)); do
		run_one "${CONFIGS[$(((j + r - 1) % n))]}" "$r"
	done
done

python3 - "$TMP/results.tsv" "$RESULTS_JSON" "$ROUNDS" "$UNITS" "$HZ" <<'PY'
import json, os, statistics, sys, time

tsv, out, rounds, units, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
order = ["none", "memtel-cpu", "memtel-heap", "perf-fp", "perf-dwarf", "bpftrace"]
runs = {}
for line in open(tsv):
    cfg, rnd, wall, cpu, cpu0, cpu_total, samples, dropped = line.rstrip("\n").split("\t")
    e = runs.setdefault(cfg, {"config": cfg, "wall_ns": [], "cpu_ns": [],
                              "profiler_startup_cpu_us": [], "profiler_cpu_us": [],
                              "samples": [], "events_dropped": []})
    e["wall_ns"].append(int(wall))
    e["cpu_ns"].append(int(cpu))
    if cpu_total != "-":
        e["profiler_startup_cpu_us"].append(int(cpu0))
        # after it was ready: sampling, and for memtel-bpf unwinding and
        # symbolizing, plus writing its outputs at the end
        e["profiler_cpu_us"].append(int(cpu_total) - int(cpu0))
    if samples != "-":
        e["samples"].append(int(samples))
    if dropped != "-":
        e["events_dropped"].append(int(dropped))

med = statistics.median
for e in runs.values():
    e["median_wall_ns"] = med(e["wall_ns"])
    e["median_cpu_ns"] = med(e["cpu_ns"])
    for k in ("profiler_startup_cpu_us", "profiler_cpu_us", "samples", "events_dropped"):
        if not e[k]:
            del e[k]
    if "profiler_cpu_us" in e:
        # CPU ms per second of profiled work, each round on its own
        per_s = [c / 1e3 / (w / 1e9) for c, w in zip(e["profiler_cpu_us"], e["wall_ns"])]
        e["profiler_cpu_ms_per_s"] = med(per_s)
        e["median_profiler_startup_cpu_ms"] = med(e["profiler_startup_cpu_us"]) / 1e3

def slowdown(cfg, key):
    if cfg not in runs or "none" not in runs:
        return None
    return (runs[cfg][key] / runs["none"][key] - 1) * 100

for cfg, e in runs.items():
    e["slowdown_wall_pct"] = slowdown(cfg, "median_wall_ns") if cfg != "none" else None
    e["slowdown_cpu_pct"] = slowdown(cfg, "median_cpu_ns") if cfg != "none" else None

TARGET = 0.5
def verdict(key):
    m = runs["memtel-cpu"][key]
    peers = [runs[p][key] for p in ("perf-fp", "bpftrace")]
    return {"slowdown_pct": m, "target_met": m <= TARGET,
            "no_worse_than_peers": all(m <= p for p in peers)}

doc = {
    "unit": "workload seconds (median over rounds); slowdown % = (t_cfg / t_none - 1) * 100",
    "rounds": rounds,
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "workload": f".output/bench/cpubench {units} (one thread, -O2 -fomit-frame-pointer)",
    "frequency_hz": hz,
    "configs": [runs[c] for c in order if c in runs],
    "target": {"max_slowdown_pct": TARGET,
               "wall": verdict("slowdown_wall_pct"),
               "cpu": verdict("slowdown_cpu_pct")},
    "notes": {
        "memtel-cpu": f"memtel-bpf --no-heap -F {hz} --pid PID",
        "memtel-heap": f"memtel-bpf -F {hz} --pid PID (heap probes too; the workload never allocates)",
        "perf-fp": f"perf record -F {hz} -e cpu-clock -g -p PID (frame pointers; the workload has none)",
        "perf-dwarf": f"perf record -F {hz} -e cpu-clock --call-graph dwarf -p PID (8 KiB stack copies, as memtel-bpf)",
        "bpftrace": f"bpftrace -e 'profile:hz:{hz} /pid == PID/ {{ @[ustack] = count(); }}' -p PID",
        "profiler_cpu_ms_per_s": "profiler utime+stime after it was ready (to its exit) per second of workload wall time",
        "two_cpus": "on this 2-CPU VM the profilers' userspace runs on the other CPU, so the workload's slowdown is mostly the sampling interrupt + BPF program",
        "noise": "shared VM: other jobs inflate wall times; CPU time excludes waiting for a CPU",
    },
}
n = runs["none"]
spread = {k: (max(n[k]) - min(n[k])) / 2 / n["median_" + k] * 100 for k in ("wall_ns", "cpu_ns")}
doc["none_spread_pct"] = {"wall": spread["wall_ns"], "cpu": spread["cpu_ns"],
                          "what": "half the min..max range of the unprofiled runs, % of their median"}
try:
    with open(out) as f:
        results = json.load(f)
except (OSError, ValueError):
    results = {}
results["cpu_overhead"] = doc
with open(out + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

print()
print(f"CPU profiling overhead at {hz} Hz: cpubench {units} (1 thread), "
      f"median of {rounds} interleaved rounds; shared VM, so noisy")
print(f"{'configuration':<14}{'wall s':>8}{'min..max':>15}{'slowdown':>10}"
      f"{'CPU s':>8}{'slowdown':>10}{'samples':>9}{'prof CPU':>10}{'startup':>9}")
print(f"{'':<14}{'':>8}{'':>15}{'wall %':>10}{'':>8}{'CPU %':>10}{'':>9}"
      f"{'ms/s':>10}{'CPU ms':>9}")
for c in order:
    if c not in runs:
        continue
    e = runs[c]
    rng = f"{min(e['wall_ns']) / 1e9:.3f}..{max(e['wall_ns']) / 1e9:.3f}"
    print(f"{c:<14}{e['median_wall_ns'] / 1e9:>8.3f}{rng:>15}"
          f"{fmt(e['slowdown_wall_pct'], '+.2f'):>10}"
          f"{e['median_cpu_ns'] / 1e9:>8.3f}{fmt(e['slowdown_cpu_pct'], '+.2f'):>10}"
          f"{fmt(med(e['samples']) if 'samples' in e else None, '.0f'):>9}"
          f"{fmt(e.get('profiler_cpu_ms_per_s'), '.1f'):>10}"
          f"{fmt(e.get('median_profiler_startup_cpu_ms'), '.0f'):>9}")
print(f"unprofiled runs vary by +-{spread['wall_ns']:.1f}% (wall) and +-{spread['cpu_ns']:.1f}% (CPU) "
      f"round to round: smaller differences are noise")
t = doc["target"]
for key, label in (("wall", "wall time"), ("cpu", "CPU time ")):
    v = t[key]
    print(f"memtel --no-heap slowdown, {label}: {v['slowdown_pct']:+.2f}%   "
          f"(target <= {TARGET}%: {'met' if v['target_met'] else 'NOT met'}; "
          f"no worse than perf -g and bpftrace: {'yes' if v['no_worse_than_peers'] else 'NO'})")
print("prof CPU ms/s: the profiler's own CPU time after it was ready, per second of work;")
print("  memtel-bpf unwinds and symbolizes in it, perf record defers that to perf report")
for c in order:
    if c in runs and max(runs[c].get("events_dropped", [0])):
        print(f"warning: {c} dropped events: {runs[c]['events_dropped']}")
print(f"\nresults: {out} (cpu_overhead)")
PY
