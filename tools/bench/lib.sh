# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2034
# Helpers shared by the `make bench` scripts (run.sh, cpu.sh, unwind.sh):
# sourced after `set -euo pipefail` and a cd to the top of the tree. Sets
# TMP (a scratch directory) and PIDS (background processes to stop on exit),
# and installs the EXIT/INT/TERM traps; a script with more to undo defines
# bench_on_exit, which the EXIT trap calls first.

OUT=.output/bench
MEMTEL=./memtel-bpf
RESULTS_JSON=$OUT/results.json
ROUNDS=${BENCH_ROUNDS:-7}

die() {
	echo "bench: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] ||
	die "must run as root (uprobes need CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): sudo make bench"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
command -v python3 >/dev/null || die "python3 not found (tools/deps.sh installs it)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/memtel-bench.XXXXXX")
PIDS=()

# Stop what we started (by pid, only while it is still our unreaped child).
# SIGTERM, not SIGINT: background children of a non-interactive shell start
# with SIGINT ignored, and the workload installs no handler.
cleanup() {
	local p i
	trap - EXIT INT TERM
	if declare -F bench_on_exit >/dev/null; then
		bench_on_exit || true
	fi
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${PIDS[@]}"; do
		for ((i = 0; i < 30; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget() {
	local p keep=()
	for p in "${PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	PIDS=("${keep[@]}")
}

# wait_for FILE REGEX TIMEOUT PID: until FILE has a line matching REGEX.
# Fails if PID dies first or TIMEOUT seconds pass.
wait_for() {
	local file=$1 re=$2 timeout=$3 pid=$4 i
	for ((i = 0; i < timeout * 20; i++)); do
		grep -Eq "$re" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || {
			grep -Eq "$re" "$file" 2>/dev/null && return 0
			echo "bench: process $pid exited before printing /$re/:" >&2
			sed 's/^/  | /' "$file" >&2
			return 1
		}
		sleep 0.05
	done
	echo "bench: no /$re/ from process $pid within ${timeout}s:" >&2
	sed 's/^/  | /' "$file" >&2
	return 1
}

# reap PID TIMEOUT: wait for PID to exit by itself, SIGINT it after TIMEOUT
# seconds, give up 10 s later. Sets REAP_RC to its exit status.
reap() {
	local pid=$1 timeout=$2 i
	for ((i = 0; i < timeout * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid"
		for ((i = 0; i < 200; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && die "process $pid did not stop on SIGINT"
	fi
	REAP_RC=0
	wait "$pid" || REAP_RC=$?
	forget "$pid"
}

CLK_TCK=$(getconf CLK_TCK)

# proc_cpu_us PID: utime + stime of every thread of PID so far, in us
# (/proc/PID/stat fields 14 and 15, in clock ticks; the comm field before
# them may hold spaces, so count from the last ')').
proc_cpu_us() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13) * 1000000 / tck }' <<<"$stat"
}

# cputime_pid FILE TIMEOUT WRAPPER: the pid of the command `cputime FILE`
# started (it writes "pid N" first thing).
cputime_pid() {
	local file=$1 timeout=$2 wrapper=$3
	wait_for "$file" '^pid [0-9]+$' "$timeout" "$wrapper" || return 1
	awk '$1 == "pid" { print $2; exit }' "$file"
}

# cputime_us FILE: utime + stime in us that cputime recorded in FILE.
cputime_us() {
	awk '$1 == "utime_us" { u = $2 } $1 == "stime_us" { s = $2 }
	     END { if (u == "" || s == "") exit 1; print u + s }' "$1"
}

# merge_results KEY FILE: the JSON document in FILE becomes KEY of
# results.json (the other keys kept; replaced whole, never half-written).
merge_results() {
	python3 - "$RESULTS_JSON" "$1" "$2" <<'PY'
import json, os, sys
out, key, doc = sys.argv[1:4]
try:
    with open(out) as f:
        results = json.load(f)
except (OSError, ValueError):
    results = {}
with open(doc) as f:
    results[key] = json.load(f)
with open(out + ".tmp", "w") as f:
    json.dump(results, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
PY
}
