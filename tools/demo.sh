#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo: profile the bundled demo workload from its first instruction,
# then show the result the way a person would look at it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${MEMTEL_BIN:-./memtel-bpf}
WL=.output/workloads/heapsites
OUT=${DEMO_OUT:-demo-output}
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

rm -rf "$OUT"
echo "== memtel-bpf -o $OUT -- $WL  (default sampling: one sample per 512 KiB)"
$SUDO "$BIN" -o "$OUT" -- "$WL" --gib 1 >"$OUT.log" 2>&1 || { cat "$OUT.log"; exit 1; }
grep -v '^{' "$OUT.log"
echo
echo "== memtel-bpf --sample-bytes 1 (every allocation) on the exact workload"
$SUDO "$BIN" --sample-bytes 1 -o "$OUT/exact" -- "$WL" >"$OUT.log" 2>&1 || { cat "$OUT.log"; exit 1; }
grep -v '^{' "$OUT.log"
rm -f "$OUT.log"
echo
if command -v go >/dev/null; then
	echo "== go tool pprof -top -sample_index=inuse_space $OUT/exact/heap.pb.gz"
	HOME=${HOME:-/tmp} go tool pprof -top -sample_index=inuse_space "$OUT/exact/heap.pb.gz" 2>/dev/null | head -20
fi
echo
echo "Files are in $OUT/ (open heap.pb.gz with: go tool pprof -http=: $OUT/heap.pb.gz)"
