#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench`, part 4: what the in-process sampler (libmemtel-sampler.so,
# otel_memory USDT probes) costs per malloc/free pair, against no profiler
# and against the default uprobe mode. mallocbench runs PAIRS
# malloc(64)/free pairs while, per configuration:
#   baseline      nothing
#   lib           LD_PRELOAD=libmemtel-sampler.so, no profiler: the
#                 sampler's own cost (TLS countdown, pointer-set lookup)
#   lib-usdt      the same with memtel-bpf --pid --no-cpu attached (USDT
#                 mode: probes fire on sampled allocations only)
#   uprobe        no library, memtel-bpf --pid --no-cpu: the default
#                 malloc/free uprobes
#   lib-all       MEMTEL_SAMPLER_MEAN=1 (every pair sampled), no profiler
#   lib-all-usdt  MEMTEL_SAMPLER_MEAN=1 with memtel-bpf attached: both
#                 probes fire on every pair; (lib-all-usdt - lib-all) / 2 is
#                 the cost of one probe hit including the BPF program (its
#                 registers + stack copy and ring-buffer record)
#   lib-all-bare  MEMTEL_SAMPLER_MEAN=1 with a bpftrace counter on both
#                 probes: (lib-all-bare - lib-all) / 2 is the bare cost of a
#                 hit on the (optimized) 5-byte nop
#   uprobe-all    no library, memtel-bpf --sample-bytes 1: every pair
#                 recorded through the malloc/free uprobes, to compare with
#                 lib-all-usdt
# Interleaved over BENCH_ROUNDS rounds, medians reported; appends "sampler"
# to results.json.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

. tools/bench/lib.sh

WORKLOAD=$OUT/mallocbench
LIB=.output/libmemtel-sampler.so
JOBS=(baseline:10000000 lib:10000000 lib-usdt:10000000 uprobe:500000
	lib-all:2000000 lib-all-usdt:50000 lib-all-bare:500000 uprobe-all:50000)

for f in "$MEMTEL" "$WORKLOAD" "$LIB"; do
	[ -e "$f" ] || die "$f is missing: run 'make bench'"
done
LIB=$(realpath "$LIB")

run_one() {
	local cfg=$1 pairs=$2 round=$3 tag="s-$1-$3" wl prof='' ns rc
	local wl_out=$TMP/$tag.wl prof_out=$TMP/$tag.prof env=() extra=()

	case $cfg in
	lib | lib-usdt) env=(LD_PRELOAD="$LIB") ;;
	lib-all*) env=(LD_PRELOAD="$LIB" MEMTEL_SAMPLER_MEAN=1) ;;
	esac
	env "${env[@]}" "$WORKLOAD" "$pairs" 64 >"$wl_out" 2>&1 &
	wl=$!
	PIDS+=("$wl")
	wait_for "$wl_out" '^ready ' 10 "$wl" || die "workload did not start"
	case $cfg in
	lib-all-bare)
		bpftrace -B line -p "$wl" -e "usdt:$LIB:otel_memory:alloc { @a = count(); }
usdt:$LIB:otel_memory:free { @f = count(); }
BEGIN { printf(\"bench-ready\\n\"); }" >"$prof_out" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		wait_for "$prof_out" '^bench-ready$' 60 "$prof" || die "bpftrace failed to attach"
		;;
	lib-usdt | uprobe | lib-all-usdt | uprobe-all)
		[ "$cfg" = uprobe-all ] && extra=(--sample-bytes 1)
		"$MEMTEL" --pid "$wl" --no-cpu -o "$TMP/$tag.out" "${extra[@]}" \
			>"$prof_out" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		wait_for "$prof_out" '^memtel-bpf: attached;' 30 "$prof" || die "$cfg failed to attach"
		if [[ $cfg == uprobe* ]]; then
			grep -q 'heap probes to' "$prof_out" || die "$cfg: no malloc/free uprobes"
		else
			grep -q 'otel_memory USDT' "$prof_out" || die "$cfg: not in USDT mode"
		fi
		;;
	esac
	kill -USR1 "$wl"
	rc=0
	wait "$wl" || rc=$?
	forget "$wl"
	[ "$rc" -eq 0 ] || die "workload ($cfg) exited with status $rc: $(cat "$wl_out")"
	ns=$(awk '$1 == "ns_per_pair" { print $2 }' "$wl_out")
	[ -n "$ns" ] || die "workload ($cfg) printed no result: $(cat "$wl_out")"
	if [ "$cfg" = lib-all-bare ]; then
		kill -INT "$prof"	# bpftrace -p exits with its target, but not always at once
		reap "$prof" 30
	elif [ -n "$prof" ]; then
		reap "$prof" 60
		[ "$REAP_RC" -eq 0 ] || die "$cfg: memtel-bpf exited with status $REAP_RC: $(cat "$prof_out")"
		rm -rf "$TMP/$tag.out"
	fi
	printf '%s\t%s\t%s\n' "$cfg" "$round" "$ns" >>"$TMP/sampler.tsv"
	printf '  round %d/%d  %-13s %9s ns/pair\n' "$round" "$ROUNDS" "$cfg" "$ns" >&2
}

mkdir -p "$OUT"
: >"$TMP/sampler.tsv"
echo "bench (sampler): ${#JOBS[@]} configurations x $ROUNDS rounds (interleaved)" >&2
for ((r = 1; r <= ROUNDS; r++)); do
	n=${#JOBS[@]}
	for ((j = 0; j < n; j++)); do
		IFS=: read -r cfg pairs <<<"${JOBS[$(((j + r - 1) % n))]}"
		run_one "$cfg" "$pairs" "$r"
	done
done

python3 - "$TMP/sampler.tsv" "$RESULTS_JSON" "$ROUNDS" <<'PY'
import json, os, statistics, sys, time

tsv, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
ns = {}
for line in open(tsv):
    cfg, _, v = line.split("\t")
    ns.setdefault(cfg, []).append(float(v))
med = {k: statistics.median(v) for k, v in ns.items()}
base = med["baseline"]
hit = (med["lib-all-usdt"] - med["lib-all"]) / 2
bare = (med["lib-all-bare"] - med["lib-all"]) / 2
try:
    with open(out) as f:
        results = json.load(f)
except (OSError, ValueError):
    results = {}
results["sampler"] = {
    "unit": "ns per malloc(64)/free pair (median over rounds)", "rounds": rounds,
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "ns_per_pair": med, "rounds_ns": ns,
    "usdt_hit_ns": hit, "usdt_bare_hit_ns": bare,
    "notes": "lib: libmemtel-sampler.so preloaded; -usdt: memtel-bpf --pid --no-cpu "
             "attached in USDT mode; uprobe: default malloc/free uprobes; lib-all: "
             "MEMTEL_SAMPLER_MEAN=1; usdt_hit_ns = (lib-all-usdt - lib-all) / 2; "
             "usdt_bare_hit_ns: the same with a bpftrace counter; uprobe-all: "
             "--sample-bytes 1 through malloc/free uprobes",
}
with open(out + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
print()
print(f"In-process sampler, ns per malloc(64)/free pair, median of {rounds} rounds")
print(f"{'config':<14}{'ns/pair':>9}{'added':>9}")
for k in ("baseline", "lib", "lib-usdt", "uprobe", "lib-all", "lib-all-usdt",
          "lib-all-bare", "uprobe-all"):
    print(f"{k:<14}{med[k]:>9.1f}{med[k] - base:>9.1f}")
print(f"one otel_memory probe hit: {bare:.0f} ns bare (bpftrace counter), "
      f"{hit:.0f} ns with memtel-bpf's program (registers + stack copy)")
PY
