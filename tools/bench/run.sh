#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench`: the cost memtel-bpf adds to a malloc/free pair, next to the
# floor (an empty BPF program at the same probe sites) and to a bpftrace
# one-liner doing the same bookkeeping.
#
# Every configuration times the same workload (.output/bench/mallocbench:
# PAIRS malloc(64)/free pairs, plus a mixed-size variant for a few). The
# profiler attaches while the workload waits, the loop runs, the profiler
# detaches. Configurations are interleaved over BENCH_ROUNDS rounds
# (default 7: the VM is shared, so medians need a few) and reported as
# medians, as a table here and as JSON in .output/bench/results.json. The
# table gives wall time per pair and the workload thread's CPU time per
# pair ("cpu ns"): on a shared 2-CPU VM the wall time also counts the
# time the workload waited for a CPU (the profiler's own consumer thread
# among the competitors), the CPU time only what the probes cost it.
# Needs root. Every background process is stopped on exit, whatever the
# reason.
#
# Then, in the same run: cpu.sh (slowdown of a CPU-bound workload under the
# 99 Hz CPU profiler, against perf record and bpftrace) and unwind.sh (BPF
# cost per sample and userspace unwinding/symbolization throughput). Each
# appends its table to the report and its key to results.json. Then
# sampler.sh: the in-process sampler (libmemtel-sampler.so) per pair. Last,
# overhead.sh: the heap probes' estimated slowdown against the measured one
# (redis-server under redis-benchmark, a g++ compile).
# agent.sh: `memtel-bpf agent`'s CPU and RSS in steady state among a few
# hundred processes (BENCH_AGENT_SECONDS per configuration, default 180).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

. tools/bench/lib.sh

WORKLOAD=$OUT/mallocbench
FLOOR=$OUT/floor
SIZE=64

# config:workload:pairs. Pairs are chosen so each timed loop runs a few
# hundred ms: the slow configurations (bpftrace, whose probe on free's
# first instruction is single-stepped) get fewer. memtel-all runs as many
# as floor-ret, which it is compared with: at 100000 its loop (~0.2 s) was
# short enough that the profiler's work in its first few hundred ms
# attached (reading unwind tables, its first drains) competed with it for
# the two CPUs, 2.6 us wall per pair against 1.8 us at 1000000 for the
# same 1.55 us of CPU.
JOBS=(
	"baseline:$SIZE:10000000"
	"floor:$SIZE:500000"
	"floor-ret:$SIZE:500000"
	"memtel-default:$SIZE:500000"
	"memtel-all:$SIZE:500000"
	"bpftrace:$SIZE:30000"
	"heaptrack:$SIZE:1000000"
	baseline:mixed:10000000
	floor-ret:mixed:500000
	memtel-default:mixed:500000
)

# BENCH_ONLY=cfg,cfg...: only those rows, and none of the other benchmark
# scripts (cpu.sh, unwind.sh, sampler.sh): for measuring one change.
if [ -n "${BENCH_ONLY:-}" ]; then
	keep=()
	for j in "${JOBS[@]}"; do
		[[ ",$BENCH_ONLY," == *",${j%%:*},"* ]] && keep+=("$j")
	done
	[ ${#keep[@]} -gt 0 ] || die "BENCH_ONLY=$BENCH_ONLY matches no configuration"
	JOBS=("${keep[@]}")
fi

for f in "$MEMTEL" "$WORKLOAD" "$FLOOR"; do
	[ -x "$f" ] || die "$f is missing: run 'make bench'"
done
command -v bpftrace >/dev/null || die "bpftrace not found (tools/deps.sh installs it)"

# run_one CONFIG WORKLOAD PAIRS ROUND: one timed loop; appends a line to
# $TMP/results.tsv.
run_one() {
	local cfg=$1 wl_mode=$2 pairs=$3 round=$4 tag="$1-$2-$4"
	local wl_out=$TMP/$tag.wl prof_out=$TMP/$tag.prof
	local wl prof='' libc prog ns cpu calls='' sampled='' dropped='' rc
	local extra=()

	local target
	if [ "$cfg" = heaptrack ]; then
		# LD_PRELOAD from the start (heaptrack's own launcher): every
		# allocation recorded, as memtel-all does
		heaptrack -o "$TMP/$tag.ht" "$WORKLOAD" "$pairs" "$wl_mode" \
			>"$wl_out" 2>&1 &
	else
		"$WORKLOAD" "$pairs" "$wl_mode" >"$wl_out" 2>&1 &
	fi
	wl=$!
	PIDS+=("$wl")
	wait_for "$wl_out" '^ready ' 30 "$wl" || die "workload did not start"
	target=$(awk '$1 == "ready" { print $2; exit }' "$wl_out")

	case $cfg in
	baseline | heaptrack) ;;
	floor | floor-ret)
		[ "$cfg" = floor-ret ] && extra=(--ret)
		"$FLOOR" --pid "$target" "${extra[@]}" >"$prof_out" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		wait_for "$prof_out" '^floor: attached' 30 "$prof" || die "$cfg failed to attach"
		;;
	memtel-default | memtel-all)
		[ "$cfg" = memtel-all ] && extra=(--sample-bytes 1)
		"$MEMTEL" --pid "$target" -o "$TMP/$tag.out" "${extra[@]}" \
			>"$prof_out" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		wait_for "$prof_out" '^memtel-bpf: attached' 30 "$prof" || die "$cfg failed to attach"
		;;
	bpftrace)
		libc=$(awk '$6 ~ /\/libc[.-][^\/]*$/ { print $6; exit }' "/proc/$wl/maps")
		[ -n "$libc" ] || die "no libc in /proc/$wl/maps"
		# memleak-like bookkeeping, as memtel-bpf's unsampled path does.
		# bpftrace probes free's entry (test %rdi,%rdi), which the
		# kernel single-steps: that is this peer's real cost.
		prog="BEGIN { printf(\"bench-ready\\n\"); }
uprobe:$libc:malloc /pid == $wl/ { @size[tid] = arg0; }
uretprobe:$libc:malloc /pid == $wl/ { @live[retval] = @size[tid]; delete(@size[tid]); }
uprobe:$libc:free /pid == $wl/ { delete(@live[arg0]); }"
		bpftrace -B line -p "$wl" -e "$prog" >"$prof_out" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		# BEGIN fires once every probe is attached, after "Attaching".
		wait_for "$prof_out" '^Attaching [0-9]+ probes' 60 "$prof" ||
			die "bpftrace failed to attach"
		wait_for "$prof_out" '^bench-ready$' 60 "$prof" ||
			die "bpftrace failed to attach"
		;;
	*) die "unknown configuration $cfg" ;;
	esac

	kill -USR1 "$target"
	rc=0
	wait "$wl" || rc=$?
	forget "$wl"
	[ "$rc" -eq 0 ] || die "workload ($cfg) exited with status $rc: $(cat "$wl_out")"
	ns=$(awk '$1 == "ns_per_pair" { print $2 }' "$wl_out")
	[ -n "$ns" ] || die "workload ($cfg) printed no result: $(cat "$wl_out")"
	cpu=$(awk '$1 == "cpu_ns_per_pair" { print $2 }' "$wl_out")

	if [ -n "$prof" ]; then
		# memtel-bpf and floor stop when the target exits, bpftrace -p too.
		reap "$prof" 60
		if [ "$REAP_RC" -ne 0 ] && [ "$cfg" != bpftrace ]; then
			sed 's/^/  | /' "$prof_out" >&2
			die "$cfg exited with status $REAP_RC"
		fi
	fi
	rm -f "$TMP/$tag".ht*
	if [[ $cfg == memtel-* ]]; then
		calls=$(sed -n 's/^allocation calls seen: \([0-9]*\), sampled: \([0-9]*\).*/\1/p' "$prof_out")
		sampled=$(sed -n 's/^allocation calls seen: \([0-9]*\), sampled: \([0-9]*\).*/\2/p' "$prof_out")
		dropped=$(sed -n 's/^events dropped: \([0-9]*\).*/\1/p' "$prof_out")
		rm -rf "$TMP/$tag.out"
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$wl_mode" "$pairs" \
		"$round" "$ns" "${calls:--}" "${sampled:--}" "${dropped:--}" \
		"${cpu:--}" >>"$TMP/results.tsv"
	printf '  round %d/%d  %-15s %-6s %9s ns/pair\n' "$round" "$ROUNDS" \
		"$cfg" "$wl_mode" "$ns" >&2
}

mkdir -p "$OUT"
: >"$TMP/results.tsv"
echo "bench: ${#JOBS[@]} configurations x $ROUNDS rounds (interleaved)" >&2
for ((r = 1; r <= ROUNDS; r++)); do
	# Rotate the order each round so no configuration always runs first.
	n=${#JOBS[@]}
	for ((j = 0; j < n; j++)); do
		IFS=: read -r cfg wl_mode pairs <<<"${JOBS[$(((j + r - 1) % n))]}"
		run_one "$cfg" "$wl_mode" "$pairs" "$r"
	done
done

python3 - "$TMP/results.tsv" "$RESULTS_JSON" "$ROUNDS" <<'PY'
import json, os, platform, statistics, sys, time

tsv, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = {}
order = []
for line in open(tsv):
    cfg, wl, pairs, rnd, ns, calls, sampled, dropped, cpu = line.rstrip("\n").split("\t")
    key = (cfg, wl)
    if key not in runs:
        runs[key] = {"config": cfg, "workload": wl, "pairs": int(pairs),
                     "rounds_ns": [], "rounds_cpu_ns": [], "calls_seen": [],
                     "sampled": [], "events_dropped": []}
        order.append(key)
    e = runs[key]
    e["rounds_ns"].append(float(ns))
    if cpu != "-":
        e["rounds_cpu_ns"].append(float(cpu))
    for k, v in (("calls_seen", calls), ("sampled", sampled),
                 ("events_dropped", dropped)):
        if v != "-":
            e[k].append(int(v))

for e in runs.values():
    e["ns_per_pair"] = statistics.median(e["rounds_ns"])
    # the workload thread's CPU time over the loop: what the probes cost
    # it, without the time it waited for a CPU on a shared machine
    e["cpu_ns_per_pair"] = (statistics.median(e["rounds_cpu_ns"])
                            if e["rounds_cpu_ns"] else None)
    for k in ("calls_seen", "sampled", "events_dropped"):
        if not e[k]:
            del e[k]

def med(cfg, wl):
    e = runs.get((cfg, wl))
    return e["ns_per_pair"] if e else None

for (cfg, wl), e in runs.items():
    base = med("baseline", wl)
    e["added_ns"] = None if base is None else e["ns_per_pair"] - base

def added(cfg, wl):
    e = runs.get((cfg, wl))
    return e["added_ns"] if e else None

def med_cpu(cfg, wl):
    e = runs.get((cfg, wl))
    return e["cpu_ns_per_pair"] if e else None

def ratio(a, b):
    return None if a is None or b is None or b <= 0 else a / b

TARGET = 1.2
ratios = {
    "memtel_default_vs_floor": ratio(added("memtel-default", "64"), added("floor", "64")),
    "memtel_default_vs_floor_ret": ratio(added("memtel-default", "64"), added("floor-ret", "64")),
    "memtel_default_vs_floor_ret_mixed": ratio(added("memtel-default", "mixed"), added("floor-ret", "mixed")),
    "bpftrace_vs_memtel_default": ratio(added("bpftrace", "64"), added("memtel-default", "64")),
    "bpftrace_vs_memtel_all": ratio(added("bpftrace", "64"), added("memtel-all", "64")),
    "memtel_all_vs_floor_ret": ratio(added("memtel-all", "64"), added("floor-ret", "64")),
    "memtel_all_vs_floor_ret_total": ratio(med("memtel-all", "64"), med("floor-ret", "64")),
    "memtel_all_vs_floor_ret_cpu": ratio(med_cpu("memtel-all", "64"), med_cpu("floor-ret", "64")),
    "heaptrack_vs_floor_ret": ratio(added("heaptrack", "64"), added("floor-ret", "64")),
    "floor_ret_vs_floor": ratio(added("floor-ret", "64"), added("floor", "64")),
}
u = os.uname()
doc = {
    "unit": "ns per malloc/free pair (median over rounds); cpu_ns_per_pair: the workload thread's CPU time",
    "rounds": rounds,
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "host": {"kernel": u.release, "machine": u.machine, "cpus": os.cpu_count(),
             "libc": " ".join(platform.libc_ver())},
    "configs": [runs[k] for k in order],
    "ratios": ratios,
    "target": {"memtel_default_vs_floor_max": TARGET,
               "met": ratios["memtel_default_vs_floor"] is not None
                      and ratios["memtel_default_vs_floor"] <= TARGET},
    "notes": {
        "floor": "empty BPF program at malloc entry (push %r12, emulated) + free+3 (je, emulated)",
        "floor-ret": "floor + uretprobe on malloc (the probe set memtel-bpf attaches)",
        "memtel-default": "memtel-bpf, default sampling (524288 bytes)",
        "memtel-all": "memtel-bpf --sample-bytes 1 (stacks unwound in BPF, deduplicated; 8 KiB window where that fails)",
        "heaptrack": "heaptrack 1.4 recording every allocation (LD_PRELOAD from the start)",
        "bpftrace": "bpftrace 0.17 memleak-like one-liner; its free probe is at free's entry (single-stepped)",
        "mixed": "sizes cycle through 256 values in 16..1024 bytes",
    },
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

print()
print(f"malloc/free pair cost, median of {rounds} interleaved rounds "
      f"({u.release}, {os.cpu_count()} CPUs, glibc {platform.libc_ver()[1]})")
print(f"{'configuration':<16}{'workload':<9}{'pairs':>9}{'ns/pair':>11}"
      f"{'min..max':>19}{'added ns':>11}{'x floor':>9}{'cpu ns':>9}")
for k in order:
    e = runs[k]
    fl = added("floor", e["workload"]) or added("floor", "64")
    x = ratio(e["added_ns"], fl) if e["config"] != "baseline" else None
    rng = f"{min(e['rounds_ns']):.1f}..{max(e['rounds_ns']):.1f}"
    print(f"{e['config']:<16}{e['workload']:<9}{e['pairs']:>9}"
          f"{e['ns_per_pair']:>11.1f}{rng:>19}"
          f"{fmt(e['added_ns'] if e['config'] != 'baseline' else None, '.1f'):>11}"
          f"{fmt(x, '.2f'):>9}{fmt(e['cpu_ns_per_pair'], '.1f'):>9}")
print()
r = ratios
met = doc["target"]["met"]
print(f"memtel default / floor (added cost):      {fmt(r['memtel_default_vs_floor'], '.2f')}x"
      f"   (target <= {TARGET}x: {'met' if met else 'NOT met'})")
print(f"memtel default / floor-ret (added cost):  {fmt(r['memtel_default_vs_floor_ret'], '.2f')}x"
      f"   (mixed sizes: {fmt(r['memtel_default_vs_floor_ret_mixed'], '.2f')}x)")
print(f"floor-ret / floor: the malloc uretprobe:  {fmt(r['floor_ret_vs_floor'], '.2f')}x")
print(f"bpftrace / memtel default (added cost):   {fmt(r['bpftrace_vs_memtel_default'], '.1f')}x")
print(f"bpftrace / memtel --sample-bytes 1:       {fmt(r['bpftrace_vs_memtel_all'], '.1f')}x")
print(f"memtel --sample-bytes 1 / floor-ret:      {fmt(r['memtel_all_vs_floor_ret'], '.2f')}x added,"
      f" {fmt(r['memtel_all_vs_floor_ret_total'], '.2f')}x per pair   (target <= 1.5x)")
print(f"  the same in the workload's CPU time:    {fmt(r['memtel_all_vs_floor_ret_cpu'], '.2f')}x per pair")
print(f"heaptrack / floor-ret (added cost):       {fmt(r['heaptrack_vs_floor_ret'], '.2f')}x")
for k in order:
    e = runs[k]
    if e.get("events_dropped") and max(e["events_dropped"]):
        print(f"warning: {e['config']}/{e['workload']} dropped events: {e['events_dropped']}")
print(f"\nresults: {out}")
PY

[ -n "${BENCH_ONLY:-}" ] && exit 0
tools/bench/cpu.sh
tools/bench/unwind.sh
tools/bench/sampler.sh
tools/bench/overhead.sh
tools/bench/agent.sh
