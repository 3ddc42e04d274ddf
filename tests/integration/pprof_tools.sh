#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `go tool pprof -top` and `-traces` read memtel-bpf's heap.pb.gz as a user
# would run them (default symbolization) and show the allocation sites.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

run_memtel "$W/memtel" 120 --sample-bytes 1 -o "$W/prof" -- "$HEAPSITES"
assert_exit 0
prof=$W/prof/heap.pb.gz
assert_file "$prof"
sites=$("$HEAPSITES" --expect | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["sites"]))')

watch_log "$W/top.txt" "$W/top_alloc.txt" "$W/traces.txt"
pprof -top -nodecount=200 "$prof" >"$W/top.txt" || fail "pprof -top failed"
pprof -top -nodecount=200 -sample_index=alloc_space "$prof" >"$W/top_alloc.txt" ||
	fail "pprof -top -sample_index=alloc_space failed"
pprof -traces "$prof" >"$W/traces.txt" || fail "pprof -traces failed"

# Default view: in-use space; churn_site frees everything so is not in it.
grep -q 'Type: inuse_space' "$W/top.txt" || fail "-top default type is not inuse_space"
grep -qw leak_site "$W/top.txt" || fail "leak_site missing from -top"
for s in $sites; do
	grep -qw "$s" "$W/top_alloc.txt" || fail "$s missing from -top -sample_index=alloc_space"
	grep -qw "$s" "$W/traces.txt" || fail "$s missing from -traces"
done
# -traces prints stacks leaf first: the line after leak_site's is its caller.
grep -A1 -w 'leak_site$' "$W/traces.txt" | grep -qw run_exact ||
	fail "-traces: leak_site's caller is not run_exact"
log "pprof -top/-traces ok"
