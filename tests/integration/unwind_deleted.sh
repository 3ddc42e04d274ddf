#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Binaries deleted after the target started (an upgrade under a running
# service): a copy of deepchain and libdeep.so is started, then the
# executable is deleted and the library replaced by a different file
# (libworkload.so) at the same path. Profiled by --pid afterwards, every
# frame of a6's malloc stack must still have its name and line, and the
# mappings the build IDs of the files the target really mapped.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

DEEPCHAIN=$MEMTEL_WL_DIR/deepchain
LIBDEEP=$MEMTEL_WL_DIR/libdeep.so
DECOY=$MEMTEL_WL_DIR/libworkload.so
DEEPCHECK=$MEMTEL_ROOT/tools/workloads/deepcheck.py
COUNT=100

require_bpf
require_memtel
for f in "$DEEPCHAIN" "$LIBDEEP" "$DECOY"; do
	[ -e "$f" ] || fail "workloads not built: $f (make workloads)"
done
require_go

build_id() { # ELF
	readelf -n "$1" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p'
}
exe_id=$(build_id "$DEEPCHAIN")
lib_id=$(build_id "$LIBDEEP")
[ -n "$exe_id" ] || fail "no build ID in $DEEPCHAIN"
[ -n "$lib_id" ] || fail "no build ID in $LIBDEEP"

DIR=$W/del
mkdir -p "$DIR" || fail "mkdir $DIR"
cp "$DEEPCHAIN" "$LIBDEEP" "$DIR/" || fail "copying the workloads to $DIR"

watch_log "$W/target.out" "$W/target.err"
spawn "$W/target.out" "$W/target.err" \
	"$DIR/deepchain" --heap --count "$COUNT" --wait-signal --hold
TARGET_PID=$SPAWN_PID
wait_for_line "$W/target.out" '^ready [0-9]+$' 10 "$TARGET_PID" || fail "deepchain did not start"

rm "$DIR/deepchain" "$DIR/libdeep.so" || fail "deleting the workloads"
cp "$DECOY" "$DIR/libdeep.so" || fail "cp $DECOY"
grep -q " $DIR/deepchain (deleted)\$" "/proc/$TARGET_PID/maps" ||
	fail "maps do not show $DIR/deepchain as deleted: $(grep deep "/proc/$TARGET_PID/maps")"

start_memtel "$W/memtel" --pid "$TARGET_PID" --sample-bytes 1 --no-cpu -o "$W/prof"
kill -USR1 "$TARGET_PID"
wait_for_line "$W/target.out" '^done ' 30 "$TARGET_PID" || fail "deepchain did not finish"
kill -INT "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit within 60s of SIGINT"
assert_exit 0
alive "$TARGET_PID" || fail "target died while being profiled"
assert_no_sanitizer "$W/memtel.err"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"

# check ARG...: deepcheck.py, failing with its output.
check() {
	python3 "$DEEPCHECK" "$@" >"$W/check.out" 2>&1 || fail "$(cat "$W/check.out")"
	cat "$W/check.out"
}
check chain "$W/prof/heap.pb.gz" heap --count "$COUNT"
check mapping "$W/prof/heap.pb.gz" deepchain "$exe_id"
check mapping "$W/prof/heap.pb.gz" libdeep.so "$lib_id"
