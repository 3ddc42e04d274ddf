# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
# common.sh - helpers for tests/integration/*.sh, sourced after `set -u`.
#
# A test exits 0 on pass, 77 on skip, anything else on failure. tests/run.sh
# sets MEMTEL_BIN (binary under test), MEMTEL_WL_DIR (built workloads),
# MEMTEL_ROOT and a fresh TMPDIR; the defaults below let a script also run
# by hand from a built tree: `tests/integration/heap_exact_pid.sh`.
#
# Every background process is started with spawn() and killed on exit;
# fail() prints the logs registered with watch_log() so CI shows why.

MEMTEL_ROOT=${MEMTEL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
MEMTEL_BIN=${MEMTEL_BIN:-$MEMTEL_ROOT/memtel-bpf}
MEMTEL_WL_DIR=${MEMTEL_WL_DIR:-$MEMTEL_ROOT/.output/workloads}
PPROF_RAW=$MEMTEL_ROOT/tests/lib/pprof_raw.py
HEAPSITES=$MEMTEL_WL_DIR/heapsites

# Per-test scratch directory; kept by run.sh when the test fails.
W=$(mktemp -d "${TMPDIR:-/tmp}/memtel-test.XXXXXX") || exit 1

BG_PIDS=()
LOGS=()
EXIT_CODE=
SPAWN_PID=

log() { printf '# %s\n' "$*"; }

_cleanup() {
	local pid i
	for pid in "${BG_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${BG_PIDS[@]}"; do
		for ((i = 0; i < 20; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	[ -n "${CLEANUP_HOOK:-}" ] && $CLEANUP_HOOK
	return 0
}
trap _cleanup EXIT
trap 'echo "FAIL: interrupted" >&2; exit 1' INT TERM

# Register a file whose content fail() shows.
watch_log() { LOGS+=("$@"); }

fail() {
	local f
	echo "FAIL: $*"
	for f in "${LOGS[@]}"; do
		[ -e "$f" ] || continue
		echo "---- $f"
		tail -n 40 "$f"
	done
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

# Skip unless BPF can work here; under MEMTEL_REQUIRE_BPF=1 that is a failure.
require_bpf() {
	local why=
	if [ "$(id -u)" -ne 0 ]; then
		why="needs root"
	elif [ ! -r /sys/kernel/btf/vmlinux ]; then
		why="kernel has no BTF (/sys/kernel/btf/vmlinux)"
	fi
	[ -z "$why" ] && return 0
	[ "${MEMTEL_REQUIRE_BPF:-0}" = 1 ] && fail "$why (MEMTEL_REQUIRE_BPF=1)"
	skip "$why"
}

require_memtel() {
	[ -x "$MEMTEL_BIN" ] || fail "profiler not built: $MEMTEL_BIN"
}

require_workloads() {
	[ -x "$HEAPSITES" ] || fail "workloads not built: $HEAPSITES (make workloads)"
}

require_go() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import pprof_raw; sys.exit(0 if pprof_raw.go_binary() else 1)' \
		"$MEMTEL_ROOT/tests/lib" || skip "go not installed (go tool pprof)"
}

# Sets JE to Debian's libjemalloc, which tools/deps.sh installs.
require_jemalloc() {
	JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
	[ -e "$JE" ] || fail "$JE missing (tools/deps.sh installs libjemalloc-dev)"
}

# build_go WORKLOAD CGO: `go build` tools/workloads/go/WORKLOAD into
# $W/WORKLOAD with CGO_ENABLED=CGO, offline (standard library only), its
# caches under the test's scratch directory.
build_go() {
	local name=$1
	command -v go >/dev/null || fail "go not installed (golang-go)"
	cp -r "$MEMTEL_ROOT/tools/workloads/go/$name" "$W/$name.src" || fail "no workload $name"
	watch_log "$W/$name.build"
	(cd "$W/$name.src" &&
		export GOCACHE=$W/gocache GOPATH=$W/gopath GOFLAGS=-mod=mod \
			GOPROXY=off GO111MODULE=on CGO_ENABLED=$2 &&
		go mod init "$name" && go build -o "$W/$name" .) \
		>"$W/$name.build" 2>&1 || fail "go build of $name failed"
}

# spawn OUT ERR CMD...: start CMD in the background with SIGINT/SIGQUIT at
# their defaults (bash ignores them in background jobs without job
# control); sets SPAWN_PID.
spawn() {
	local out=$1 err=$2
	shift 2
	(trap - INT QUIT; exec "$@") >"$out" 2>"$err" </dev/null &
	SPAWN_PID=$!
	BG_PIDS+=("$SPAWN_PID")
}

# Is PID (a child of this shell) still running (not exited, not a zombie)?
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_for_line FILE ERE TIMEOUT [PID]: wait until a line of FILE matches;
# gives up early when PID has exited. Returns 1 on timeout.
wait_for_line() {
	local file=$1 re=$2 t=$3 pid=${4:-} i
	for ((i = 0; i < t * 10; i++)); do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		if [ -n "$pid" ] && ! alive "$pid"; then
			grep -Eq -- "$re" "$file" 2>/dev/null && return 0
			echo "# process $pid exited while waiting for /$re/ in $file"
			return 1
		fi
		sleep 0.1
	done
	echo "# timed out after ${t}s waiting for /$re/ in $file"
	return 1
}

# wait_exit PID TIMEOUT: wait for a spawned PID; sets EXIT_CODE. Returns 1
# (and kills it) on timeout.
wait_exit() {
	local pid=$1 t=$2 i
	for ((i = 0; i < t * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		EXIT_CODE=timeout
		return 1
	fi
	wait "$pid" 2>/dev/null
	EXIT_CODE=$?
	return 0
}

# run_memtel PREFIX TIMEOUT ARG...: run the profiler in the foreground,
# stdout to PREFIX.out, stderr to PREFIX.err; sets EXIT_CODE.
run_memtel() {
	local prefix=$1 t=$2
	shift 2
	watch_log "$prefix.out" "$prefix.err"
	log "memtel-bpf $*"
	spawn "$prefix.out" "$prefix.err" "$MEMTEL_BIN" "$@"
	wait_exit "$SPAWN_PID" "$t" || fail "memtel-bpf $* did not exit within ${t}s"
}

# start_memtel PREFIX ARG...: start the profiler in the background and wait
# for its 'attached' line; sets MEMTEL_PID.
start_memtel() {
	local prefix=$1
	shift
	watch_log "$prefix.out" "$prefix.err"
	log "memtel-bpf $* &"
	spawn "$prefix.out" "$prefix.err" "$MEMTEL_BIN" "$@"
	MEMTEL_PID=$SPAWN_PID
	wait_for_line "$prefix.err" '^memtel-bpf: attached' 90 "$MEMTEL_PID" ||
		fail "memtel-bpf never printed 'memtel-bpf: attached'"
}

# start_heapsites PREFIX ARG...: start heapsites --wait-signal ARG... and
# wait for its "ready" line; sets TARGET_PID.
start_heapsites() {
	local prefix=$1
	shift
	watch_log "$prefix.out" "$prefix.err"
	spawn "$prefix.out" "$prefix.err" "$HEAPSITES" --wait-signal "$@"
	TARGET_PID=$SPAWN_PID
	wait_for_line "$prefix.out" '^ready [0-9]+$' 10 "$TARGET_PID" ||
		fail "heapsites did not start"
}

# run_preloaded NAME PRELOAD PROG [PROG-ARG...] -- [MEMTEL-ARG...]: start
# `PROG PROG-ARG... --wait-signal` with LD_PRELOAD=PRELOAD (stdout in
# $W/NAME.target; the profiler itself must not carry the preload: an ASan
# build refuses another allocator first), attach `memtel-bpf --pid` with
# MEMTEL-ARGs (stdout/stderr in $W/NAME.out/.err), release the workload with
# SIGUSR1 and wait for both; sets EXIT_CODE to memtel-bpf's.
run_preloaded() {
	local name=$1 pre=$2 prog=() tpid
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do prog+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	watch_log "$W/$name.target" "$W/$name.target.err"
	spawn "$W/$name.target" "$W/$name.target.err" env LD_PRELOAD="$pre" "${prog[@]}" --wait-signal
	tpid=$SPAWN_PID
	wait_for_line "$W/$name.target" '^ready [0-9]+$' 10 "$tpid" || fail "$name: ${prog[0]} did not start"
	start_memtel "$W/$name" --pid "$tpid" "$@"
	kill -USR1 "$tpid"
	wait_exit "$tpid" 120 || fail "$name: ${prog[0]} did not finish"
	[ "$EXIT_CODE" = 0 ] || fail "$name: ${prog[0]} exited $EXIT_CODE"
	wait_exit "$MEMTEL_PID" 60 || fail "$name: memtel-bpf did not exit after its target"
}

# --- assertions ----------------------------------------------------------------

assert_eq() { # WHAT EXPECTED ACTUAL
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}

assert_exit() { # EXPECTED [WHAT]
	[ "$EXIT_CODE" = "$1" ] ||
		fail "${2:-memtel-bpf} exit code: expected $1, got $EXIT_CODE"
}

assert_file() { # PATH
	[ -s "$1" ] || fail "missing or empty: $1"
}

assert_no_file() { # PATH WHY
	[ ! -e "$1" ] || fail "$1 exists ($2)"
}

# assert_error_line ERRFILE ERE: stderr is exactly one line, starting with
# 'memtel-bpf: ' and matching ERE (case-insensitive), as the contract says.
assert_error_line() {
	local file=$1 re=$2 n first
	n=$(grep -c '' "$file")
	first=$(head -n 1 "$file")
	[ "$n" -eq 1 ] || fail "stderr should be one error line, got $n lines"
	case $first in
	"memtel-bpf: "*) ;;
	*) fail "error line lacks the 'memtel-bpf: ' prefix: '$first'" ;;
	esac
	grep -Eiq -- "$re" "$file" || fail "error line '$first' does not match /$re/"
}

# No sanitizer report in a log (the ASan pass also aborts, this names it).
assert_no_sanitizer() { # FILE
	if grep -Eq 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$1"; then
		fail "sanitizer report in $1"
	fi
}

# Prints N of the profiler's 'events dropped: N' summary line.
events_dropped() { # OUTFILE
	sed -n 's/.*events dropped: *\([0-9][0-9]*\).*/\1/p' "$1" | head -n 1
}

# assert_uprobes_in TARGET-PID COUNT FILE-ERE: memtel-bpf ($MEMTEL_PID)
# holds exactly COUNT uprobes (bpftool perf), every one in a mapping of
# the target whose path matches FILE-ERE (bpftool names the map_files
# range, resolved in the target's maps).
assert_uprobes_in() {
	local tpid=$1 want=$2 ere=$3 n range
	bpftool perf show >"$W/perf.txt" 2>&1 || fail "bpftool perf show: $(cat "$W/perf.txt")"
	grep "^pid $MEMTEL_PID " "$W/perf.txt" | grep ' uprobe ' >"$W/ours.txt" || true
	n=$(grep -c '' "$W/ours.txt")
	[ "$n" = "$want" ] || fail "memtel-bpf holds $n uprobes, expected $want: $(cat "$W/ours.txt")"
	while read -r range; do
		grep -Eq "^$range .*$ere\$" "/proc/$tpid/maps" ||
			fail "a uprobe outside $ere: $range ($(grep "^$range " "/proc/$tpid/maps"))"
	done < <(sed -n 's|.*/map_files/\([0-9a-f]*-[0-9a-f]*\).*|\1|p' "$W/ours.txt")
}

assert_no_drops() { # OUTFILE
	local n
	n=$(events_dropped "$1")
	[ -n "$n" ] || fail "no 'events dropped: N' line on stdout"
	[ "$n" = 0 ] || fail "events dropped: $n (expected 0)"
}

# check_profile MODE PROFILE EXPECT: MODE is exact or approx.
check_profile() {
	local out=$W/check.$RANDOM
	python3 "$PPROF_RAW" "check-$1" "$2" "$3" >"$out" 2>&1 ||
		fail "profile check ($1) failed: $(cat "$out")"
	cat "$out"
}

pprof() { # ARG...: go tool pprof with a throwaway HOME
	python3 "$PPROF_RAW" pprof "$@"
}

# run_cpusplit_with_cputime SECONDS THREADS: memtel-bpf --no-heap -o $W/prof
# -- cpusplit, while tests/lib/cputime_poller.py writes each workload
# thread's CPU time ("tid ns" lines) to $W/cputime; its stdout ($W/poller.out)
# names the workload's pid. Fails unless both finish cleanly.
run_cpusplit_with_cputime() {
	local secs=$1 threads=$2 poller
	watch_log "$W/poller.out" "$W/poller.err"
	spawn "$W/memtel.out" "$W/memtel.err" "$MEMTEL_BIN" --no-heap -o "$W/prof" \
		-- "$MEMTEL_WL_DIR/cpusplit" --seconds "$secs" --threads "$threads"
	MEMTEL_PID=$SPAWN_PID
	watch_log "$W/memtel.out" "$W/memtel.err"
	log "memtel-bpf --no-heap -o prof -- cpusplit --seconds $secs --threads $threads"
	spawn "$W/poller.out" "$W/poller.err" python3 \
		"$MEMTEL_ROOT/tests/lib/cputime_poller.py" "$MEMTEL_PID" "$W/cputime"
	poller=$SPAWN_PID
	wait_exit "$MEMTEL_PID" 90 || fail "memtel-bpf did not exit within 90s"
	assert_exit 0
	assert_no_sanitizer "$W/memtel.err"
	wait_exit "$poller" 10 || fail "CPU time poller did not finish"
	[ -s "$W/cputime" ] || fail "no CPU time recorded for the workload"
}

# --- process trees ----------------------------------------------------------------

FORKER=$MEMTEL_WL_DIR/forker

# by_pid PROFILE: "PID LEAF VALUE..." per pid label and leaf function.
by_pid() {
	python3 "$PPROF_RAW" by-pid "$1" || fail "cannot read $1"
}

# assert_site PROFILE PID LEAF VALUES: the summed values of LEAF's samples
# labelled PID are exactly VALUES ("objects bytes inuse_objects inuse_bytes").
assert_site() {
	local got
	got=$(by_pid "$1" | awk -v p="$2" -v l="$3" '$1 == p && $2 == l { $1 = $2 = ""; sub(/^ +/, ""); print }')
	[ "$got" = "$4" ] || fail "$3 in pid $2: got '${got:-nothing}', want '$4' ($(by_pid "$1" | tr '\n' ';'))"
}
