#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A target that truncates its own library after the profiler attached
# (truncself: a copy of libworkload.so, dlopen'ed, cut to 0 bytes on
# SIGUSR1, then still called) must not kill the profiler: no file a target
# controls is ever mapped into it, so there is no SIGBUS. The session ends
# at --duration, exits 0 and writes its profile, and the frames symbolized
# from the library's copy still name lib_alloc_site.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

TRUNCSELF=$MEMTEL_WL_DIR/truncself
LIB=$MEMTEL_WL_DIR/libworkload.so

require_bpf
require_memtel
[ -x "$TRUNCSELF" ] && [ -e "$LIB" ] || fail "workloads not built (make workloads)"
require_go

watch_log "$W/target.out" "$W/target.err"
spawn "$W/target.out" "$W/target.err" "$TRUNCSELF" "$LIB" "$W/libcopy.so" --seconds 30
TARGET_PID=$SPAWN_PID
wait_for_line "$W/target.out" '^ready [0-9]+$' 10 "$TARGET_PID" || fail "truncself did not start"

start_memtel "$W/memtel" --pid "$TARGET_PID" --duration 6 --sample-bytes 4096 -o "$W/prof"
sleep 2
kill -USR1 "$TARGET_PID"
wait_for_line "$W/target.out" '^truncated$' 10 "$TARGET_PID" || fail "truncself did not truncate"
[ "$(stat -c %s "$W/libcopy.so")" = 0 ] || fail "the library copy was not truncated"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf still running 60s after --duration 6"
if [ "$EXIT_CODE" != 0 ]; then
	[ "$EXIT_CODE" = 135 ] && fail "memtel-bpf died of SIGBUS after the target truncated its library"
	fail "memtel-bpf exit code $EXIT_CODE"
fi
alive "$TARGET_PID" || fail "the target died"
assert_no_sanitizer "$W/memtel.err"
assert_file "$W/prof/heap.pb.gz"
python3 "$PPROF_RAW" summary "$W/prof/heap.pb.gz" >"$W/sum.json" || fail "pprof summary"
grep -q '"lib_alloc_site"' "$W/sum.json" || fail "lib_alloc_site not named in the heap profile: $(head -c 600 "$W/sum.json")"
exit 0
