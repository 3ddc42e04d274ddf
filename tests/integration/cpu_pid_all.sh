#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# CPU target selection with two busy processes A and B (cpusplit, one
# thread each): `--pid A` samples A and never B; `--all` samples both, and
# symbolizes each one's leaf functions. "Samples" means at least half of
# what 99 Hz gives for the CPU time the process had during the session
# (read from schedstat), so a loaded machine does not fail the test.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

CPUSPLIT=$MEMTEL_WL_DIR/cpusplit
[ -x "$CPUSPLIT" ] || fail "workloads not built: $CPUSPLIT (make workloads)"

# start_cpusplit PREFIX SECONDS: cpusplit --wait-signal in the background;
# sets TARGET_PID once it printed "ready PID".
start_cpusplit() {
	watch_log "$1.out" "$1.err"
	spawn "$1.out" "$1.err" "$CPUSPLIT" --wait-signal --seconds "$2"
	TARGET_PID=$SPAWN_PID
	wait_for_line "$1.out" '^ready [0-9]+$' 10 "$TARGET_PID" ||
		fail "cpusplit did not start"
}

# check_pids PROFILE 'PID...' 'PID...' MIN: every PID of the first list has
# at least MIN samples, with leaf_three among its leaves; no sample carries
# a PID of the second list.
check_pids() {
	python3 - "$MEMTEL_ROOT/tests/lib" "$@" >"$W/check.txt" 2>&1 <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

# Under --all the profile holds every process on the host, including frames
# this test does not look at. The profiler can write a function with an
# empty name (a file and line but no symbol), which the strict parser
# rejects; accept such lines here, they are not what is checked.
_strict = pprof_raw._parse_line_str
def _tolerant(s):
    try:
        return _strict(s)
    except pprof_raw.ToolError:
        m = re.match(r"^(?P<file>\S*):(?P<line>-?\d+) s=-?\d+", s.strip())
        if not m:
            raise
        return ("", m.group("file"), int(m.group("line")))
pprof_raw._parse_line_str = _tolerant

p = pprof_raw.load(sys.argv[2])
want, absent, least = sys.argv[3].split(), sys.argv[4].split(), int(sys.argv[5])
per_pid, leaves, total = {}, {}, 0
for vals, locs, labels in p.samples:
    lbl = dict(re.findall(r"(\w+):\[([^\]]*)\]", " ".join(labels)))
    pid = lbl.get("pid", "?")
    per_pid[pid] = per_pid.get(pid, 0) + vals[0]
    total += vals[0]
    frames = p.frames(locs)
    if frames:
        leaves.setdefault(pid, set()).add(frames[0])
print("samples: %d; by pid:" % total)
for pid, n in sorted(per_pid.items(), key=lambda kv: -kv[1])[:8]:
    print("  %-8s %6d%s" % (pid, n, "  <- A/B" if pid in want + absent else ""))
errors = []
for pid in want:
    if per_pid.get(pid, 0) < least:
        errors.append("pid %s: %d samples, expected at least %d"
                      % (pid, per_pid.get(pid, 0), least))
    elif "leaf_three" not in leaves.get(pid, ()):
        errors.append("pid %s: leaf_three is not among its leaf functions %s"
                      % (pid, sorted(leaves.get(pid, ()))[:10]))
for pid in absent:
    if pid in per_pid:
        errors.append("pid %s (not profiled) has %d samples" % (pid, per_pid[pid]))
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
EOF
	local rc=$? msg
	cat "$W/check.txt"
	if [ "$rc" -ne 0 ]; then
		msg=$(grep -m1 '^FAIL: ' "$W/check.txt" | sed 's/^FAIL: //')
		fail "${msg:-reading $1 back failed}"
	fi
}

# cpu_ns PID: CPU time of all of PID's threads so far, in ns.
cpu_ns() {
	local f t=0 v
	for f in /proc/"$1"/task/*/schedstat; do
		read -r v _ 2>/dev/null <"$f" || continue
		t=$((t + v))
	done
	echo "$t"
}

# min_samples NS_BEFORE NS_AFTER: half the samples 99 Hz gives for the CPU
# time between the two readings (at least 5). Both processes are busy, but
# on a loaded machine they get less than a whole CPU each.
min_samples() {
	local n=$((($2 - $1) * 99 / 2000000000))
	[ "$n" -lt 5 ] && n=5
	echo "$n"
}

stop() { # PID...: end busy workloads early
	local pid
	kill -TERM "$@" 2>/dev/null
	for pid in "$@"; do
		wait_exit "$pid" 10 || fail "cpusplit $pid did not exit on SIGTERM"
	done
}

SESSION=3

# --- --pid A: B is busy too but must not appear -----------------------------
start_cpusplit "$W/a" $((SESSION + 5))
A=$TARGET_PID
start_cpusplit "$W/b" $((SESSION + 5))
B=$TARGET_PID
log "A=$A B=$B"
start_memtel "$W/pid" --no-heap --pid "$A" --duration "$SESSION" -o "$W/prof-pid"
a0=$(cpu_ns "$A")
kill -USR1 "$A" "$B"
sleep "$SESSION"
a1=$(cpu_ns "$A")
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf --pid --duration $SESSION did not end"
assert_exit 0
assert_no_sanitizer "$W/pid.err"
alive "$A" || fail "A ended before the session did"
stop "$A" "$B"
assert_file "$W/prof-pid/cpu.pb.gz"
ma=$(min_samples "$a0" "$a1")
log "A had $(((a1 - a0) / 1000000)) ms of CPU in the session: expecting >= $ma samples"
check_pids "$W/prof-pid/cpu.pb.gz" "$A" "$B" "$ma"
log "--pid $A: no samples of $B"

# --- --all: both A and B -------------------------------------------------------
start_cpusplit "$W/a2" $((SESSION + 5))
A=$TARGET_PID
start_cpusplit "$W/b2" $((SESSION + 5))
B=$TARGET_PID
log "A=$A B=$B"
start_memtel "$W/all" --all --duration "$SESSION" -o "$W/prof-all"
a0=$(cpu_ns "$A")
b0=$(cpu_ns "$B")
kill -USR1 "$A" "$B"
sleep "$SESSION"
a1=$(cpu_ns "$A")
b1=$(cpu_ns "$B")
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf --all --duration $SESSION did not end"
assert_exit 0
assert_no_sanitizer "$W/all.err"
stop "$A" "$B"
assert_file "$W/prof-all/cpu.pb.gz"
ma=$(min_samples "$a0" "$a1")
mb=$(min_samples "$b0" "$b1")
log "A and B had $(((a1 - a0) / 1000000)) and $(((b1 - b0) / 1000000)) ms of CPU in the session: expecting >= $ma and $mb samples"
check_pids "$W/prof-all/cpu.pb.gz" "$A $B" "" "$((ma < mb ? ma : mb))"
log "--all: samples of both $A and $B"
