#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# An idle target (cpusplit --idle sleeps 2 s): memtel-bpf exits 0 and still
# writes a valid CPU profile with (almost) no samples: cpu.pb.gz that
# `go tool pprof` reads, the same count in the summary and in cpu.folded,
# and a well-formed cpu.svg. A sample or two from exec and the dynamic
# loader are allowed; the sleep itself must not be sampled.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

CPUSPLIT=$MEMTEL_WL_DIR/cpusplit
[ -x "$CPUSPLIT" ] || fail "workloads not built: $CPUSPLIT (make workloads)"
MAX_SAMPLES=2

run_memtel "$W/memtel" 60 --no-heap -o "$W/prof" -- "$CPUSPLIT" --idle --seconds 2
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^done$' "$W/memtel.out" || fail "the idle workload did not finish"

n=$(sed -n 's/^CPU: \([0-9][0-9]*\) samples at 99 Hz.*/\1/p' "$W/memtel.out")
[ -n "$n" ] || fail "no 'CPU: N samples at 99 Hz' line in the summary"
log "summary: $n samples"
[ "$n" -le "$MAX_SAMPLES" ] || fail "idle target: $n samples, expected at most $MAX_SAMPLES"

for f in cpu.pb.gz cpu.folded cpu.svg; do
	[ -e "$W/prof/$f" ] || fail "missing $f"
done
assert_file "$W/prof/cpu.pb.gz"
assert_file "$W/prof/cpu.svg"

python3 - "$MEMTEL_ROOT/tests/lib" "$W/prof" "$n" >"$W/check.txt" 2>&1 <<'EOF'
import re, sys, xml.dom.minidom
sys.path.insert(0, sys.argv[1])
import pprof_raw

d, n = sys.argv[2], int(sys.argv[3])
errors = []
p = pprof_raw.load(d + "/cpu.pb.gz")
total = sum(v[0] for v, _, _ in p.samples)
print("pprof: %d samples; types %s" % (total, p.sample_types))
if p.sample_types != [("samples", "count"), ("cpu", "nanoseconds")]:
    errors.append("sample types %s, expected samples/count cpu/nanoseconds"
                  % p.sample_types)
if total != n:
    errors.append("cpu.pb.gz has %d samples, the summary says %d" % (total, n))

folded = 0
with open(d + "/cpu.folded") as f:
    for line in f:
        m = re.fullmatch(r"(.+) (\d+)\n?", line)
        if not m:
            errors.append("malformed cpu.folded line %r" % line)
            break
        folded += int(m.group(2))
print("cpu.folded: %d samples" % folded)
if folded != n:
    errors.append("cpu.folded sums to %d, the summary says %d" % (folded, n))

try:
    doc = xml.dom.minidom.parse(d + "/cpu.svg")
    if doc.documentElement.tagName != "svg":
        errors.append("cpu.svg root element is <%s>"
                      % doc.documentElement.tagName)
except Exception as e:
    errors.append("cpu.svg is not well-formed XML: %s" % e)
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
EOF
rc=$?
cat "$W/check.txt"
if [ "$rc" -ne 0 ]; then
	msg=$(grep -m1 '^FAIL: ' "$W/check.txt" | sed 's/^FAIL: //')
	fail "${msg:-reading the CPU profile back failed}"
fi

# pprof -top, as a user would run it on an empty profile
pprof -top "$W/prof/cpu.pb.gz" >"$W/top.txt" 2>&1 || fail "go tool pprof -top failed: $(cat "$W/top.txt")"
log "idle target: $n samples, outputs valid"
