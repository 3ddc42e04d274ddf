#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# jemalloc's non-standard API: tools/workloads/jeallocx.c allocates with
# mallocx, moves with rallocx, resizes in place with xallocx (one failing
# growth, one shrink) and frees with sdallocx and dallocx. At
# --sample-bytes 1 the heap profile must match its totals exactly, with
# the uprobe session and with classic uprobes + uretprobes.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JE" ] || fail "$JE missing (tools/deps.sh installs libjemalloc-dev)"
JEALLOCX=$MEMTEL_WL_DIR/jeallocx
"$JEALLOCX" --expect >"$W/expect.json" || fail "jeallocx --expect"

for mode in session classic; do
	envs=(LD_PRELOAD="$JE")
	[ $mode = classic ] && envs+=(MEMTEL_NO_SESSION=1)
	log "case $mode"
	watch_log "$W/$mode.out" "$W/$mode.err"
	spawn "$W/$mode.out" "$W/$mode.err" env "${envs[@]}" "$MEMTEL_BIN" \
		--no-cpu --sample-bytes 1 -o "$W/$mode" -- "$JEALLOCX"
	wait_exit "$SPAWN_PID" 120 || fail "$mode: memtel-bpf did not exit"
	assert_exit 0 "$mode: memtel-bpf"
	assert_no_sanitizer "$W/$mode.err"
	grep -Eq "^memtel-bpf: attached [0-9]+ heap probes to $JE " "$W/$mode.err" ||
		fail "$mode: probes not attached to $JE"
	grep -q '"mode": "exact"' "$W/$mode.out" || fail "$mode: jeallocx did not run to the end"
	assert_no_drops "$W/$mode.out"
	check_profile exact "$W/$mode/heap.pb.gz" "$W/expect.json"
done
exit 0
