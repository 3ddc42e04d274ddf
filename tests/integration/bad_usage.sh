#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Usage errors exit 2 with one 'memtel-bpf: ' line on stderr, and are found
# before anything is attached or launched. Needs no privileges: usage is
# checked before the BPF permission check.
# (The "no BTF" runtime error is not tested: it cannot be simulated without
# booting another kernel or hiding /sys/kernel/btf with root-only tricks.)
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_memtel
require_workloads

# expect_usage NAME ERE ARG...: memtel-bpf ARG... must exit 2 with one
# error line matching ERE, and write no profile into the cwd.
n=0
expect_usage() {
	local name=$1 re=$2 dir
	shift 2
	n=$((n + 1))
	dir=$W/case$n
	mkdir -p "$dir/cwd"
	log "$name: memtel-bpf $*"
	LOGS=()
	watch_log "$dir/memtel.out" "$dir/memtel.err"
	(cd "$dir/cwd" && exec "$MEMTEL_BIN" "$@") >"$dir/memtel.out" 2>"$dir/memtel.err" </dev/null &
	BG_PIDS+=($!)
	wait_exit $! 30 || fail "$name: memtel-bpf did not exit within 30s"
	assert_exit 2 "$name: memtel-bpf"
	assert_no_sanitizer "$dir/memtel.err"
	assert_error_line "$dir/memtel.err" "$re"
	[ -z "$(ls -A "$dir/cwd")" ] || fail "$name: created $(ls -A "$dir/cwd") in the cwd"
}

# A pid that does not exist: the first free one below pid_max.
pid_max=$(cat /proc/sys/kernel/pid_max)
nopid=$((pid_max - 1))
while [ -e "/proc/$nopid" ]; do nopid=$((nopid - 1)); done

# An exited but unreaped pid (zombie): sleep 0.3 exits after its parent
# became `sleep 60`, which never waits for it.
zpid=
bash -c 'sleep 0.3 & echo $! >"$1"; exec sleep 60' _ "$W/zombie.pid" &
BG_PIDS+=($!)
for _ in $(seq 50); do
	[ -s "$W/zombie.pid" ] && zpid=$(cat "$W/zombie.pid") &&
		[ "$(sed 's/.*) //' "/proc/$zpid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && break
	sleep 0.1
done
[ "$(sed 's/.*) //' "/proc/$zpid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] || fail "could not make a zombie"

# A live target for the cases where only one other thing is wrong.
start_heapsites "$W/target"
touch "$W/regular"

expect_usage "unknown option" 'bogus' --bogus-option -- "$HEAPSITES"
expect_usage "unknown short option" "'Q'|-Q" -Q --pid "$TARGET_PID"
expect_usage "no target" '.'
expect_usage "nonexistent pid" "$nopid" --pid "$nopid"
expect_usage "exited (zombie) pid" "$zpid" --pid "$zpid"
expect_usage "pid not a number" 'pid|12x' --pid 12x
expect_usage "pid zero" 'pid|0' --pid 0
expect_usage "pid negative" 'pid|-5' --pid -5
expect_usage "--pid without value" 'pid' --pid
expect_usage "sample-bytes 0" 'sample' --sample-bytes 0 --pid "$TARGET_PID"
expect_usage "sample-bytes garbage" 'sample|4k' --sample-bytes 4k --pid "$TARGET_PID"
expect_usage "sample-bytes negative" 'sample|-1' --sample-bytes -1 --pid "$TARGET_PID"
expect_usage "duration garbage" 'duration|soon' --duration soon --pid "$TARGET_PID"
# Out of range: strtoull/strtod accept these, and the session would then
# sample once per 2^64 bytes or convert 1e300 s to an integer (undefined).
expect_usage "sample-bytes 2^64-1" 'sample-bytes.*1\.\.1099511627776' \
	--sample-bytes 18446744073709551615 --pid "$TARGET_PID"
expect_usage "sample-bytes 2^64" 'sample-bytes' \
	--sample-bytes 18446744073709551616 --pid "$TARGET_PID"
expect_usage "sample-bytes above 2^40" 'sample-bytes' \
	--sample-bytes 1099511627777 --pid "$TARGET_PID"
expect_usage "duration 1e300" 'duration.*1e300' --duration 1e300 --pid "$TARGET_PID"
expect_usage "duration inf" 'duration' --duration inf --pid "$TARGET_PID"
expect_usage "duration nan" 'duration' --duration nan --pid "$TARGET_PID"
expect_usage "duration above a year" 'duration' --duration 31536001 --pid "$TARGET_PID"
expect_usage "leak-age 1e300" 'leak-age' --leak-age 1e300 --pid "$TARGET_PID"
expect_usage "freq 2^64+1" 'freq' -F 18446744073709551617 --pid "$TARGET_PID"
expect_usage "no command after --" '.' --sample-bytes 1 --
expect_usage "-o under a regular file (pid)" 'regular|output|director|-o' \
	--pid "$TARGET_PID" -o "$W/regular/prof"
assert_no_file "$W/regular/prof" "no profile may be written"
expect_usage "-o under a regular file (launch)" 'regular|output|director|-o' \
	-o "$W/regular/prof" -- "$HEAPSITES"
# The command must not have run: heapsites prints its JSON when it does.
grep -q '"mode"' "$W/case$n/memtel.out" && fail "-o unwritable: the command was launched"

alive "$TARGET_PID" || fail "the --pid target was disturbed"
log "$n usage errors ok"
