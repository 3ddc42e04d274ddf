#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# CPU sampling accuracy: cpusplit spends 3 ms in leaf_three() for every 1 ms
# in leaf_one() (-O2, no frame pointers). At 99 Hz over 5 s the self
# samples of the two leaves must be 75% and 25% of all samples within 3
# percentage points, and the sample count within 10% of 99 x 5 x 1 busy
# thread. The profile read back by `go tool pprof -raw` must say what the
# profile contract says: sample types samples/count and cpu/nanoseconds,
# period type cpu/nanoseconds, period 1e9/99 ns, numeric pid/tid labels.
#
# The nominal count assumes the thread had its CPU for the whole 5 s. The
# thread's real CPU time (schedstat, polled until it exits) is recorded too,
# and the count must always be within 10% of 99 x that. When a busy machine
# gave the thread less than 90% of the nominal time (never on an idle CI
# machine), the nominal count and the shares are reported but not checked:
# cpusplit times its slices on the wall clock, so a preemption longer than
# a slice cuts up to 3 ms from leaf_three() but at most 1 ms from
# leaf_one(), and the true split drifts from 3:1 (measured here: 64.5% /
# 33.6% when the workload got 63% of a CPU). Both leaves must still have
# samples then.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

CPUSPLIT=$MEMTEL_WL_DIR/cpusplit
[ -x "$CPUSPLIT" ] || fail "workloads not built: $CPUSPLIT (make workloads)"

SECONDS_RUN=5
FREQ=99
THREADS=1

# Profiles cpusplit; $W/cputime gets each thread's CPU time (ns).
run_cpusplit_with_cputime "$SECONDS_RUN" "$THREADS"
grep -q '^CPU: [0-9]* samples at 99 Hz' "$W/memtel.out" ||
	fail "no 'CPU: N samples at 99 Hz' line in the summary"
assert_file "$W/prof/cpu.pb.gz"

python3 - "$MEMTEL_ROOT/tests/lib" "$W/prof/cpu.pb.gz" "$W/cputime" \
	"$SECONDS_RUN" "$FREQ" "$THREADS" >"$W/check.txt" 2>&1 <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

prof, cputime = sys.argv[2], sys.argv[3]
secs, freq, threads = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
errors = []
p = pprof_raw.load(prof)

# header and types
period = 1000000000 // freq
if p.sample_types != [("samples", "count"), ("cpu", "nanoseconds")]:
    errors.append("sample types %s, expected samples/count cpu/nanoseconds"
                  % p.sample_types)
if p.header.get("PeriodType") != "cpu nanoseconds":
    errors.append("PeriodType %r, expected 'cpu nanoseconds'"
                  % p.header.get("PeriodType"))
if p.header.get("Period") != str(period):
    errors.append("Period %r, expected %d" % (p.header.get("Period"), period))

total = 0
for vals, locs, labels in p.samples:
    if len(vals) != 2:
        continue
    total += vals[0]
    if vals[1] != vals[0] * period:
        errors.append("sample %s: cpu ns is not count x period" % vals)
        break
    lbl = dict(re.findall(r"(\w+):\[([^\]]*)\]", " ".join(labels)))
    if not re.fullmatch(r"\d+", lbl.get("pid", "")) or \
            not re.fullmatch(r"\d+", lbl.get("tid", "")):
        errors.append("sample without numeric pid/tid labels: %s" % labels)
        break

# the CPU time the thread really got
nominal = freq * secs * threads
cpu_s = 0.0
with open(cputime) as f:
    for line in f:
        tid, ns = line.split()
        cpu_s += int(ns) / 1e9
busy = cpu_s < 0.90 * secs * threads
if busy:
    print("NOTE: the machine is busy: the workload had %.2fs of CPU instead "
          "of %gs; the nominal count and the 3:1 shares are not checked"
          % (cpu_s, secs * threads))

# shares of self samples
selfc = {}
for vals, frames in p.stacks():
    leaf = frames[0] if frames else "<empty>"
    selfc[leaf] = selfc.get(leaf, 0) + vals[0]
print("samples: %d" % total)
for leaf, n in sorted(selfc.items(), key=lambda kv: -kv[1])[:6]:
    print("  %6d  %5.1f%%  %s" % (n, 100.0 * n / max(total, 1), leaf))
for fn, want in (("leaf_three", 75.0), ("leaf_one", 25.0)):
    share = 100.0 * selfc.get(fn, 0) / max(total, 1)
    print("%s: %.2f%% of samples (expected %.0f%% +-3)" % (fn, share, want))
    if not selfc.get(fn):
        errors.append("%s has no self samples" % fn)
    elif not busy and abs(share - want) > 3.0:
        errors.append("%s has %.2f%% of the samples, expected %.0f%% +-3pp"
                      % (fn, share, want))

# sample count: against the CPU time the thread really got, and nominal
actual = freq * cpu_s
print("nominal %.0f samples (%d Hz x %gs x %d); workload CPU time %.2fs -> "
      "%.0f samples" % (nominal, freq, secs, threads, cpu_s, actual))
if abs(total - actual) > 0.10 * actual:
    errors.append("%d samples for %.2fs of CPU time: expected %.0f +-10%%"
                  % (total, cpu_s, actual))
if not busy and abs(total - nominal) > 0.10 * nominal:
    errors.append("%d samples, expected %.0f +-10%% (%d Hz x %gs x %d "
                  "busy thread(s))" % (total, nominal, freq, secs, threads))
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
EOF
rc=$?
cat "$W/check.txt"
if [ "$rc" -ne 0 ]; then
	msg=$(grep -m1 '^FAIL: ' "$W/check.txt" | sed 's/^FAIL: //')
	fail "${msg:-reading cpu.pb.gz back failed}"
fi
if grep -q '^NOTE: ' "$W/check.txt"; then
	log "ok, but the machine was busy: the load-dependent checks were skipped"
else
	log "3:1 split and sample count ok"
fi
