#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The estimated cost of the heap probes (issue 13). allocwork (malloc/free
# pairs between bits of computation) run bare and under memtel-bpf: the
# summary gives a non-zero estimated slowdown in a plausible range and
# within a factor of 3 of the CPU-time slowdown allocwork measured itself
# (loose: the VM is shared and calibration is noisy; tools/bench/overhead.sh
# is the precise check); the heap and CPU pprof files carry it as a
# comment naming the target; the metrics name it too. The calibration
# child (pid in the -v line) appears in no output, not even with every
# allocation sampled. --no-heap calibrates nothing.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

WORK=$MEMTEL_WL_DIR/allocwork
[ -x "$WORK" ] || fail "$WORK is missing: run make"

json_field() { # FILE FIELD
	python3 -c 'import json,sys
for l in open(sys.argv[1]):
    if l.startswith("{"): print(json.loads(l)[sys.argv[2]]); break' "$1" "$2"
}

"$WORK" >"$W/bare.out" || fail "allocwork failed"
bare=$(json_field "$W/bare.out" cpu_ns)

run_memtel "$W/prof" 120 -v -o "$W/out" -- "$WORK"
assert_exit 0
assert_no_sanitizer "$W/prof.err"
pid=$(json_field "$W/prof.out" pid)
probed=$(json_field "$W/prof.out" cpu_ns)
line=$(grep '^heap probes: ' "$W/prof.out") ||
	fail "no 'heap probes:' line in the summary"
est=$(sed -n 's/^heap probes: ~\([0-9.]*\)% estimated slowdown ([0-9.kMG]* hits x [0-9]* ns over [0-9.]* s CPU)$/\1/p' <<<"$line")
[ -n "$est" ] || fail "summary line not as expected: $line"
log "$line; allocwork CPU $bare ns bare, $probed ns profiled"
python3 - "$est" "$bare" "$probed" <<'PY' || fail "estimate $est% against measured $(python3 -c "print(round(($probed/$bare-1)*100,1))")%"
import sys
est, bare, probed = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
measured = (probed / bare - 1) * 100
print("# estimated %.1f%%, measured %.1f%%" % (est, measured))
sys.exit(0 if 0.5 < est < 2000 and measured > 0 and
         1 / 3 < est / measured < 3 else 1)
PY

child=$(sed -n 's/^memtel-bpf: calibration child \([0-9]*\): [0-9]* ns per heap probe hit.*/\1/p' "$W/prof.err")
[ -n "$child" ] || fail "no calibration line in the -v output"

for f in heap cpu; do
	python3 - "$PPROF_RAW" "$W/out/$f.pb.gz" "$pid" "$est" <<'PY' || fail "$f.pb.gz: no overhead comment for pid $pid"
import os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import pprof_raw
p = pprof_raw.load(sys.argv[2])
want = "memtel: heap probes cost pid %s an estimated %s%% (" % (sys.argv[3], sys.argv[4])
ok = [c for c in p.comments if c.startswith(want) and "calibrated" in c]
print("# %s" % (ok[0] if ok else p.comments))
sys.exit(0 if ok else 1)
PY
done
grep -q "\"memtel.probe.overhead\".*\"stringValue\":\"$pid\"" "$W/out/metrics.jsonl" ||
	fail "metrics.jsonl has no memtel.probe.overhead for pid $pid"

# The child must be in no output. Every allocation sampled: were its
# records not dropped, thousands of its samples would be in heap.pb.gz.
no_child() { # DIR PREFIX
	local pids
	pids=$(by_pid "$1/heap.pb.gz" | awk '{ print $1 }' | sort -u | tr '\n' ' ')
	case " $pids " in *" $child "*) fail "calibration child $child in $1/heap.pb.gz (pids: $pids)" ;; esac
	grep -qw "$child" "$2.out" && fail "calibration child $child in the summary"
	grep -q "\"stringValue\":\"$child\"" "$1/metrics.jsonl" &&
		fail "calibration child $child in $1/metrics.jsonl"
	python3 "$PPROF_RAW" pprof -raw -symbolize=none "$1/cpu.pb.gz" |
		grep -q "pid:\[$child\]\|\"$child\"" && fail "calibration child $child in $1/cpu.pb.gz"
	return 0
}
no_child "$W/out" "$W/prof"
run_memtel "$W/all" 120 -v --sample-bytes 1 -o "$W/all_out" -- "$HEAPSITES"
assert_exit 0
child=$(sed -n 's/^memtel-bpf: calibration child \([0-9]*\): .*/\1/p' "$W/all.err")
[ -n "$child" ] || fail "no calibration line in the -v output (--sample-bytes 1)"
no_child "$W/all_out" "$W/all"
log "calibration child $child in no output"

run_memtel "$W/noheap" 60 -v --no-heap -o "$W/noheap_out" -- "$WORK" 20000
assert_exit 0
grep -q 'calibration child\|heap probe hit cost' "$W/noheap.err" &&
	fail "--no-heap calibrated: $(grep -m1 calibration "$W/noheap.err")"
grep -q '^heap probes: ' "$W/noheap.out" && fail "--no-heap printed a heap probes line"
python3 "$PPROF_RAW" pprof -raw -symbolize=none "$W/noheap_out/cpu.pb.gz" |
	grep -q 'memtel: heap probes' && fail "--no-heap: cpu.pb.gz has an overhead comment"
log "--no-heap: no calibration, no estimate"
exit 0
