#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# JIT code is named from /tmp/perf-PID.map: a workload spinning in code it
# generated into an anonymous executable mapping, announced in the map
# file, must show that name in the CPU profile (pprof and folded).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

run_memtel "$W/m" 60 --no-heap -o "$W/prof" -- "$MEMTEL_WL_DIR/jitspin" --seconds 2
assert_exit 0
assert_no_sanitizer "$W/m.err"
python3 "$PPROF_RAW" summary "$W/prof/cpu.pb.gz" >"$W/sum.json" || fail "pprof summary"
python3 - "$W/sum.json" <<'PY' || fail "jit_spin_loop is not the hot function"
import json, sys
d = json.load(open(sys.argv[1]))["by_leaf"]
tot = sum(v["samples"] for v in d.values())
jit = d.get("jit_spin_loop", {}).get("samples", 0)
print("# jit_spin_loop: %d of %d samples" % (jit, tot))
sys.exit(0 if tot and jit >= 0.7 * tot else 1)
PY
grep -q 'jit_spin_loop' "$W/prof/cpu.folded" || fail "cpu.folded does not name jit_spin_loop"
exit 0
