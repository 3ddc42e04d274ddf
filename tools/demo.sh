#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo: profile the bundled demo workloads from their first
# instruction and show the results the way a person would look at them.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MEMTEL_BIN:-./memtel-bpf}
WL=.output/workloads
OUT=${DEMO_OUT:-demo-output}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

rm -rf "$OUT"
mkdir -p "$OUT"
run() { # DIR ARGS...: run the profiler, show its summary
	local dir=$1
	shift
	echo "\$ memtel-bpf -o $dir $*"
	if ! $SUDO "$BIN" -o "$dir" "$@" >"$dir.log" 2>&1; then
		cat "$dir.log"
		exit 1
	fi
	grep -v '^{' "$dir.log"
	echo
}

echo "== 1. a service that leaks: every allocation, metrics every second"
run "$OUT/leaker" --sample-bytes 1 --export-interval 1 --leak-age 2 -- \
	"$WL/leaker" --seconds 5
echo "== 2. 1 GiB of allocations at the default sampling (one per 512 KiB)"
run "$OUT/heap" --no-cpu -- "$WL/heapsites" --gib 1
echo "== 3. CPU: two functions with a 3:1 split, two threads, 3 s"
run "$OUT/cpu" --no-heap -- "$WL/cpusplit" --seconds 3 --threads 2

if command -v go >/dev/null; then
	echo "== go tool pprof -top -sample_index=inuse_space $OUT/leaker/heap.pb.gz"
	HOME=${HOME:-/tmp} go tool pprof -top -sample_index=inuse_space \
		"$OUT/leaker/heap.pb.gz" 2>/dev/null | head -12
	echo
fi
echo "Open the flame graphs in a browser: $OUT/cpu/cpu.svg, $OUT/leaker/heap.svg"
echo "Metrics (OTLP/JSON): $OUT/leaker/metrics.jsonl; leaks: $OUT/leaker/leaks.txt"
echo "pprof web UI: go tool pprof -http=: $OUT/heap/heap.pb.gz"
