#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Default byte sampling (mean 512 KiB) on 2 GiB of allocations: every site's
# scaled alloc_space estimate within 15% of the truth (heapsites sizes the
# mix so one sigma is <= 2.6%, i.e. 15% is ~6 sigma), in-use within 15%
# where blocks stay live and exactly 0 where every block was freed.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

GIB=2
"$HEAPSITES" --expect --gib "$GIB" >"$W/expect.json" || fail "heapsites --expect"
# the sampler's own estimate, every allocation seen by it: no overhead
# budget pausing the probes (a pause still running at the end is not in
# the figures)
run_memtel "$W/memtel" 180 --max-overhead 0 -o "$W/prof" -- "$HEAPSITES" --gib "$GIB"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '"mode": "gib"' "$W/memtel.out" || fail "heapsites did not run to the end"
assert_file "$W/prof/heap.pb.gz"
assert_no_drops "$W/memtel.out"
check_profile approx "$W/prof/heap.pb.gz" "$W/expect.json"
