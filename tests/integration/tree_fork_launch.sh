#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Launch mode follows forked children: `-- forker` forks 2 children, each
# allocating a known count at child_site(); at --sample-bytes 1 heap.pb.gz
# has every child's allocations under its own pid label, exactly, and the
# parent's under the parent's.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

run_memtel "$W/memtel" 60 --sample-bytes 1 -o "$W/prof" -- "$FORKER" --children 2
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^done$' "$W/memtel.out" || fail "forker did not finish"
assert_no_drops "$W/memtel.out"
assert_file "$W/prof/heap.pb.gz"
parent=$(sed -n 's/^memtel-bpf: pid \([0-9]*\) .*/\1/p' "$W/memtel.out")
c0=$(sed -n 's/^child 0 \([0-9]*\)$/\1/p' "$W/memtel.out")
c1=$(sed -n 's/^child 1 \([0-9]*\)$/\1/p' "$W/memtel.out")
[ -n "$parent" ] && [ -n "$c0" ] && [ -n "$c1" ] || fail "pids not found in the output"
grep -q "following pid $c0, child of $parent" "$W/memtel.err" || fail "child $c0 not followed"
assert_site "$W/prof/heap.pb.gz" "$parent" parent_site "10 30000 10 30000"
assert_site "$W/prof/heap.pb.gz" "$c0" child_site "20 20000 20 20000"
assert_site "$W/prof/heap.pb.gz" "$c1" child_site "30 30030 30 30030"
assert_site "$W/prof/heap.pb.gz" "$parent" child_site ""
log "parent $parent, children $c0 $c1: exact"
