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

require_jemalloc
JEALLOCX=$MEMTEL_WL_DIR/jeallocx
"$JEALLOCX" --expect >"$W/expect.json" || fail "jeallocx --expect"

# The workload gets LD_PRELOAD, the profiler does not: attach by pid.
for mode in session classic; do
	unset MEMTEL_NO_SESSION
	[ $mode = classic ] && export MEMTEL_NO_SESSION=1
	log "case $mode"
	run_preloaded "$mode" "$JE" "$JEALLOCX" -- --no-cpu --sample-bytes 1 -o "$W/$mode"
	grep -q '"mode": "exact"' "$W/$mode.target" || fail "$mode: jeallocx did not run to the end"
	assert_exit 0 "$mode: memtel-bpf"
	assert_no_sanitizer "$W/$mode.err"
	kind="uprobe session"
	[ $mode = classic ] && kind="uprobes + uretprobes"
	grep -E "^memtel-bpf: attached [0-9]+ heap probes to $JE " "$W/$mode.err" |
		grep -qF "($kind)" || fail "$mode: probes not attached to $JE as $kind"
	assert_no_drops "$W/$mode.out"
	check_profile exact "$W/$mode/heap.pb.gz" "$W/expect.json"
done
exit 0
