#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Exact heap profile of a command memtel-bpf launches (`-- heapsites`),
# profiled from its first instruction; the target exits by itself, so
# in-use at the end is what heapsites never freed.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

"$HEAPSITES" --expect --repeat 2 >"$W/expect.json" || fail "heapsites --expect"
run_memtel "$W/memtel" 120 --sample-bytes 1 -o "$W/prof" -- "$HEAPSITES" --repeat 2
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '"mode": "exact"' "$W/memtel.out" || fail "heapsites did not run to the end"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"
check_profile exact "$W/prof/heap.pb.gz" "$W/expect.json"
