#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A target in its own mount namespace: `unshare -m` mounts a tmpfs, copies
# deepchain and libdeep.so into it and runs them from there, so the
# executable's path does not exist in the profiler's namespace, and at the
# library's path the profiler's namespace has a different file (a decoy:
# libworkload.so renamed). Profiled by --pid: every frame of a6's malloc
# stack must still have its name and line, which only reading the target's
# own files (/proc/PID/root, /proc/PID/map_files) gives.
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
command -v unshare >/dev/null || skip "unshare (util-linux) not installed"

# Outside: $W/nsroot/memtel-ns/ holds only the decoy libdeep.so. Inside,
# a tmpfs hides it and holds the real pair.
NSROOT=$W/nsroot
DIR=$NSROOT/memtel-ns
mkdir -p "$DIR" || fail "mkdir $DIR"
cp "$DECOY" "$DIR/libdeep.so" || fail "cp $DECOY"

watch_log "$W/target.out" "$W/target.err"
# shellcheck disable=SC2016 # expanded by the inner sh
spawn "$W/target.out" "$W/target.err" \
	unshare -m --propagation private sh -c '
		set -e
		mount -t tmpfs memtel-ns "$1"
		mkdir "$1/memtel-ns"
		cp "$2" "$3" "$1/memtel-ns/"
		shift 3
		exec "$@"' sh "$NSROOT" "$DEEPCHAIN" "$LIBDEEP" \
	"$DIR/deepchain" --heap --count "$COUNT" --wait-signal --hold
wait_for_line "$W/target.out" '^ready [0-9]+$' 10 "$SPAWN_PID" ||
	fail "deepchain did not start in its mount namespace"
TARGET_PID=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$W/target.out")
[ "$TARGET_PID" = "$SPAWN_PID" ] || fail "ready line names pid $TARGET_PID, spawned $SPAWN_PID"

# The namespace is what we meant it to be.
[ "$(readlink "/proc/$TARGET_PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
	fail "target shares our mount namespace"
[ ! -e "$DIR/deepchain" ] || fail "$DIR/deepchain exists outside the namespace"
grep -q " $DIR/deepchain\$" "/proc/$TARGET_PID/maps" ||
	fail "target does not map $DIR/deepchain: $(grep deep "/proc/$TARGET_PID/maps")"

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
python3 "$DEEPCHECK" chain "$W/prof/heap.pb.gz" heap --count "$COUNT" \
	>"$W/check.out" 2>&1 || fail "heap stack of a6: $(cat "$W/check.out")"
cat "$W/check.out"
# The mappings carry the build IDs of the files the target mapped (not of
# the decoy).
for f in "$DEEPCHAIN" "$LIBDEEP"; do
	id=$(readelf -n "$f" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')
	[ -n "$id" ] || fail "no build ID in $f"
	python3 "$DEEPCHECK" mapping "$W/prof/heap.pb.gz" "${f##*/}" "$id" \
		>"$W/check.out" 2>&1 || fail "$(cat "$W/check.out")"
	cat "$W/check.out"
done
