#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Multi-threaded CPU profile: cpusplit --threads 2 keeps two threads busy
# for 5 s (the machine has 2 cores). Every sample must carry the process's
# pid label, the samples must come from at least 2 distinct tids with a
# substantial share each, and the total must be within 10% of
# 99 x 5 s x 2 threads.
#
# Each thread's real CPU time (schedstat, polled until it exits) is recorded
# as well: the total must be within 10% of 99 x the threads' CPU time, each
# thread's count within 15% of 99 x its own. When a busy machine gave the
# threads less than 90% of the nominal 10 s, the nominal check is reported
# as not applicable instead of failing the profiler for the scheduler's
# choices.
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
THREADS=2

# Profiles cpusplit; $W/cputime gets each thread's CPU time (ns).
run_cpusplit_with_cputime "$SECONDS_RUN" "$THREADS"
target=$(sed -n 's/^pid \([0-9][0-9]*\)$/\1/p' "$W/poller.out")
[ -n "$target" ] || fail "CPU time poller did not name the workload's pid"
# the summary names the target too: "memtel-bpf: pid N (...)"
grep -q "^memtel-bpf: pid $target " "$W/memtel.out" ||
	fail "summary does not name pid $target"
assert_file "$W/prof/cpu.pb.gz"

python3 - "$MEMTEL_ROOT/tests/lib" "$W/prof/cpu.pb.gz" "$W/cputime" \
	"$SECONDS_RUN" "$FREQ" "$THREADS" "$target" >"$W/check.txt" 2>&1 <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

prof, cputime = sys.argv[2], sys.argv[3]
secs, freq, threads = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
target = sys.argv[7]
errors = []
p = pprof_raw.load(prof)

total, per_tid, bad_pid = 0, {}, {}
for vals, locs, labels in p.samples:
    lbl = dict(re.findall(r"(\w+):\[([^\]]*)\]", " ".join(labels)))
    n = vals[0]
    total += n
    if lbl.get("pid") != target:
        bad_pid[lbl.get("pid")] = bad_pid.get(lbl.get("pid"), 0) + n
    per_tid[lbl.get("tid")] = per_tid.get(lbl.get("tid"), 0) + n
if bad_pid:
    errors.append("samples not labelled pid %s: %s" % (target, bad_pid))

cpu = {}
with open(cputime) as f:
    for line in f:
        tid, ns = line.split()
        cpu[tid] = int(ns) / 1e9
print("samples: %d" % total)
print("  tid       samples   share  CPU time  99 x CPU")
for tid in sorted(set(per_tid) | set(cpu), key=str):
    n, c = per_tid.get(tid, 0), cpu.get(tid, 0.0)
    print("  %-8s  %7d  %5.1f%%  %7.2fs  %8.0f"
          % (tid, n, 100.0 * n / max(total, 1), c, freq * c))
busy = [t for t in per_tid if per_tid[t] >= 0.25 * total]
if len(per_tid) < threads:
    errors.append("samples from %d tid(s) %s, expected at least %d"
                  % (len(per_tid), sorted(per_tid, key=str), threads))
elif len(busy) < threads:
    errors.append("only %d tid(s) with >= 25%% of the samples: %s"
                  % (len(busy), per_tid))
for tid, n in sorted(per_tid.items(), key=str):
    if tid not in cpu:
        errors.append("tid %s in the profile is not a thread of %s"
                      % (tid, target))
    elif cpu[tid] >= 0.5 and abs(n - freq * cpu[tid]) > 0.15 * freq * cpu[tid]:
        errors.append("tid %s: %d samples for %.2fs of CPU time, expected "
                      "%.0f +-15%%" % (tid, n, cpu[tid], freq * cpu[tid]))

nominal = freq * secs * threads
cpu_s = sum(cpu.values())
actual = freq * cpu_s
print("nominal %.0f samples (%d Hz x %gs x %d); workload CPU time %.2fs -> "
      "%.0f samples" % (nominal, freq, secs, threads, cpu_s, actual))
if abs(total - actual) > 0.10 * actual:
    errors.append("%d samples for %.2fs of CPU time: expected %.0f +-10%%"
                  % (total, cpu_s, actual))
if cpu_s >= 0.90 * secs * threads:
    if abs(total - nominal) > 0.10 * nominal:
        errors.append("%d samples, expected %.0f +-10%% (%d Hz x %gs x %d "
                      "busy threads)" % (total, nominal, freq, secs, threads))
else:
    print("NOTE: the machine is busy: the threads had %.2fs of CPU instead "
          "of %gs; the nominal count check does not apply"
          % (cpu_s, secs * threads))
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
	log "per-thread attribution and sample count ok"
fi
