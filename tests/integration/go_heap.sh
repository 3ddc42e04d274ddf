#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A pure Go program (tools/workloads/go/goheap, built here with `go build`:
# a static binary with no malloc) under `memtel-bpf -- PROG`: one warning
# line, exit 0, a CPU profile naming main.burn, and a heap profile of Go's
# own sampled heap whose main.allocLive site matches the program's own
# runtime/pprof heap profile. Both profiles are made of the same samples
# (the ones the Go runtime takes, one per runtime.MemProfileRate bytes)
# scaled by the same 1/(1-exp(-size/rate)), so they agree within 2%; the
# rest is what Go counts differently (its in-use values stop at the last
# GC). Against the bytes really kept live the estimate has Go's own
# sampling error: 500 kept blocks of 64 KiB at rate 512 KiB give about 59
# samples, a relative standard error of 12%, so 40% is over 3 sigma.
# A second run sets runtime.MemProfileRate to 64 KiB in the program: the
# profiler reads the rate from the process, so the weights still match
# Go's (at the default rate they would be about 5x too high). A third run
# attaches by --pid to the running program (its allocations wait for the
# profiler).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go
build_go goheap 0
elfinfo=$(file "$W/goheap")
case $elfinfo in
*statically*) ;;
*) fail "goheap is not a static binary: $elfinfo" ;;
esac

# check_run NAME [GOHEAP-ARG...]: profile goheap (launched, or by --pid
# when NAME is pid), compare with its own profile
check_run() {
	local name=$1 n live tpid
	shift
	if [ "$name" = pid ]; then
		watch_log "$W/pid.target" "$W/pid.target.err"
		spawn "$W/pid.target" "$W/pid.target.err" "$W/goheap" \
			-profile "$W/$name.own.pb.gz" -wait-signal "$@"
		tpid=$SPAWN_PID
		wait_for_line "$W/pid.target" '^ready [0-9]+$' 10 "$tpid" ||
			fail "goheap did not start"
		start_memtel "$W/$name" -o "$W/$name.prof" --pid "$tpid"
		kill -USR1 "$tpid"
		wait_exit "$tpid" 60 || fail "goheap did not finish"
		assert_exit 0 goheap
		wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit after goheap"
		cat "$W/pid.target" >>"$W/$name.out"
	else
		run_memtel "$W/$name" 120 -o "$W/$name.prof" -- "$W/goheap" \
			-profile "$W/$name.own.pb.gz" "$@"
	fi
	assert_exit 0
	assert_no_sanitizer "$W/$name.err"
	n=$(grep -c '^memtel-bpf: warning' "$W/$name.err")
	assert_eq "warning lines" 1 "$n"
	grep -q 'no C allocator' "$W/$name.err" || fail "the warning does not say why"
	grep -q '^live ' "$W/$name.out" || fail "goheap did not run to the end"
	assert_file "$W/$name.prof/cpu.pb.gz"
	assert_file "$W/$name.prof/heap.pb.gz"
	assert_file "$W/$name.own.pb.gz"
	assert_no_drops "$W/$name.out"
	grep -Eq '^Go heap: [1-9][0-9]* allocations sampled' "$W/$name.out" ||
		fail "$name: the summary does not count the Go heap's samples"
	live=$(sed -n 's/^live \([0-9]*\) .*/\1/p' "$W/$name.out")

	python3 - "$MEMTEL_ROOT/tests/lib" "$W/$name.prof" "$W/$name.own.pb.gz" \
		"$live" >"$W/$name.check" 2>&1 <<'PY' || fail "$name: $(cat "$W/$name.check")"
import sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

prof, own, live = sys.argv[2], sys.argv[3], int(sys.argv[4])
cpu = pprof_raw.load(prof + "/cpu.pb.gz")
if not any("main.burn" in f for _, f in cpu.stacks()):
    sys.exit("cpu.pb.gz has no main.burn frame")
if not any("main.main" in f for _, f in cpu.stacks()):
    sys.exit("cpu.pb.gz has no main.main frame")

ours = pprof_raw.load(prof + "/heap.pb.gz").by_leaf_named()
theirs = pprof_raw.load(own).by_leaf_named()
site = "main.allocLive"
if site not in ours:
    sys.exit("no %s leaf in heap.pb.gz; leaves: %s" % (site, sorted(ours)))
if site not in theirs:
    sys.exit("Go's own profile has no %s leaf" % site)
for t in ("inuse_space", "alloc_space"):
    a, b = ours[site][t], theirs[site][t]
    print("%s %s: ours %d, Go's %d" % (site, t, a, b))
    if abs(a - b) > 0.02 * b:
        sys.exit("%s %s off by more than 2%% from Go's own profile" % (site, t))
a = ours[site]["inuse_space"]
print("%s inuse_space: ours %d, kept live %d" % (site, a, live))
if abs(a - live) > 0.4 * live:
    sys.exit("in-use estimate %d is more than 40%% from the %d bytes kept" % (a, live))
PY
	cat "$W/$name.check"
}

check_run default
check_run rate64k -rate 65536
check_run pid
log "go heap ok"
