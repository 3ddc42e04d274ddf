#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A launched process whose heap probes the budget paused execs, during the
# pause, a program on another allocator (jemalloc preloaded): the probes
# the exec stop attached on jemalloc go again (the pause runs its course,
# and -v says so), and the resume attaches on jemalloc, the new image's
# allocator, not on the old image's libc (whose malloc the new program no
# longer calls). The profile then names the new program's site, and says
# it is partial.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_jemalloc
ALLOCWORK=$MEMTEL_WL_DIR/allocwork
LEAKER=$MEMTEL_WL_DIR/leaker

# allocwork: ~0.3 s of malloc/free at ~40% slowdown while probed, paused
# within tens of ms for 1 s; then the exec, inside that pause
start_memtel "$W/memtel" -v --max-overhead 5 -o "$W/prof" -- \
	"$ALLOCWORK" 100000 2000 --exec env LD_PRELOAD="$JE" \
	"$LEAKER" --seconds 4 --tick-ms 0 --ring 10000 --leak-bytes 4096
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit after the workload"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"

grep -Eq '^memtel-bpf: pid [0-9]+: heap probes paused' "$W/memtel.err" ||
	fail "allocwork's probes were never paused"
grep -Eq "exec'd while its heap probes were paused" "$W/memtel.err" ||
	fail "the exec did not come during the pause (allocwork too slow here?)"
resumed=$(grep -E '^memtel-bpf: pid [0-9]+: heap probes on again on ' "$W/memtel.err")
[ -n "$resumed" ] || fail "the probes never went on again after the exec"
if grep -v "$JE" <<<"$resumed" | grep -q .; then
	fail "resumed on another allocator than the new image's: $(grep -v "$JE" <<<"$resumed" | head -n 1)"
fi
grep -Eq '^ +(<- )?ring_keep' "$W/memtel.out" ||
	fail "the heap profile does not name leaker's ring_keep: $(grep -A3 '^top allocation sites' "$W/memtel.out")"
grep -q '^partial: heap probes on' "$W/memtel.out" ||
	fail "the profile does not say it is partial"
log "resumed on jemalloc after an exec in the pause: $(wc -l <<<"$resumed") time(s)"
