#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The heap-probe overhead budget (--max-overhead). A tight malloc/free
# loop keeping a ring of 10000 live blocks (no leak) under a 1% budget:
# the probes cost it far more, so after the first on-segment they pause;
# the summary, leaks.txt and heap.pb.gz say the result is partial, with
# the share of time on, the in-use heap says how much of it is
# unverified (the ring's blocks were freed unseen), and no leak is
# reported. A leaking program under a budget it exceeds still has its
# leak named (windows of 0.3 s, found in the first on-segment). With
# --max-overhead 0 nothing ever pauses and nothing says partial. The ring
# runs through env (a second image, as a compiler under its driver): its
# BPF unwind tables are built in its first pause, not at full probes.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

LEAKER=$MEMTEL_WL_DIR/leaker
FAST=(--export-interval 0.3)

# 1. no leak, over budget: paused, partial everywhere, no suspects
run_memtel "$W/ring" 60 -v --no-cpu --max-overhead 1 "${FAST[@]}" --leak-age 3 \
	-o "$W/ring.d" -- env "$LEAKER" --ring 10000 --leak-bytes 8192 --tick-ms 0 \
	--seconds 10
assert_exit 0
assert_no_sanitizer "$W/ring.err"
grep -q '^kept a ring of 10000 blocks' "$W/ring.out" || fail "leaker --ring did not run"
re='^partial: heap probes on [0-9]+% of the time \(--max-overhead 1%\); allocation figures scaled up'
grep -Eq "$re" "$W/ring.out" ||
	fail "the summary does not say the heap probes were paused: $(grep -E 'partial|heap probes' "$W/ring.out")"
pct=$(sed -nE 's/^partial: heap probes on ([0-9]+)% .*/\1/p' "$W/ring.out" | head -1)
[ "$pct" -lt 100 ] || fail "on ${pct}% of the time: never paused"
grep -Eq '^in use: .*, of which [0-9.]+ ([KMG]i)?B unverified: allocated before the probes paused' "$W/ring.out" ||
	fail "the summary does not say how much of the in-use heap is unverified: $(grep '^in use' "$W/ring.out")"
grep -q '^leak suspects: none' "$W/ring.out" ||
	fail "a steady heap was reported as leaking: $(grep -A2 '^leak suspects' "$W/ring.out")"
assert_file "$W/ring.d/leaks.txt"
grep -Eq '^partial: heap probes on [0-9]+% of the time' "$W/ring.d/leaks.txt" ||
	fail "leaks.txt does not say it is partial: $(head -2 "$W/ring.d/leaks.txt")"
grep -q '^leak suspects: none' "$W/ring.d/leaks.txt" || fail "leaks.txt has suspects"
pprof -raw "$W/ring.d/heap.pb.gz" >"$W/ring.raw" 2>&1 || fail "go tool pprof cannot read heap.pb.gz: $(tail -3 "$W/ring.raw")"
grep -Eq '^Comment: memtel: heap probes on [0-9]+% of the time \(budget 1%\)' "$W/ring.raw" ||
	fail "heap.pb.gz has no comment saying it is partial: $(grep Comment "$W/ring.raw")"
grep -q '^Comment: memtel: .* unverified (samples labelled memtel.unverified=true)' "$W/ring.raw" ||
	fail "heap.pb.gz does not say which samples are unverified"
# the ring's blocks live at the pause are labelled (all of them may have
# been freed while the detach was under way: then there are none)
if ! grep -q '^in use: .*, of which 0 B unverified' "$W/ring.out"; then
	pprof -tags "$W/ring.d/heap.pb.gz" >"$W/ring.tags" 2>&1
	grep -q 'memtel.unverified' "$W/ring.tags" ||
		fail "no sample is labelled memtel.unverified: $(head -20 "$W/ring.tags")"
fi
grep -q '"memtel.heap.probes.on_ratio"' "$W/ring.d/metrics.jsonl" ||
	fail "metrics.jsonl has no memtel.heap.probes.on_ratio"
# its BPF unwind tables are built while it is paused, not at full probes
# (a large binary's take hundreds of ms: all of it over budget), and its
# sampled calls are then unwound in BPF
pid=$(sed -nE 's/^memtel-bpf: pid ([0-9]+): heap probes paused .*/\1/p' "$W/ring.err" | head -1)
[ -n "$pid" ] || fail "no pause in the debug log: $(grep -c . "$W/ring.err") lines"
paused_at=$(grep -n "^memtel-bpf: pid $pid: heap probes paused" "$W/ring.err" | head -1 | cut -d: -f1)
tables=$(grep -n "^memtel-bpf: pid $pid: its BPF unwind tables now" "$W/ring.err" | head -1)
[ -n "$tables" ] || fail "pid $pid never got its BPF unwind tables: $(grep 'BPF unwind' "$W/ring.err")"
[ "${tables%%:*}" -gt "$paused_at" ] || fail "pid $pid got its tables before its first pause: $tables"
grep -q "its heap probes are paused" <<<"$tables" || fail "tables not built in a pause: $tables"
# once on again after that (the credit may keep a slow run paused to its
# end), its sampled calls are unwound in BPF
unwound=$(sed -nE 's/.*; ([0-9]+) events unwound in BPF.*/\1/p' "$W/ring.err" | tail -1)
if tail -n +"${tables%%:*}" "$W/ring.err" | grep -q "^memtel-bpf: pid $pid: heap probes on again"; then
	[ "${unwound:-0}" -gt 0 ] || fail "no sampled call was unwound in BPF after the tables came: $(grep 'BPF unwind:' "$W/ring.err")"
fi
log "ring: $(grep -E '^(partial|in use)' "$W/ring.out" | tr '\n' ' '); $unwound calls unwound in BPF"

# 2. a real leak under a budget it exceeds is still found
run_memtel "$W/leak" 60 --no-cpu --max-overhead 0.1 "${FAST[@]}" --leak-age 0.5 \
	-o "$W/leak.d" -- "$LEAKER" --tick-ms 1 --leak-bytes 65536 --seconds 8
assert_exit 0
grep -Eq '^partial: heap probes on [0-9]+% of the time \(--max-overhead 0.1%\)' "$W/leak.out" ||
	fail "the leaker's probes were never paused: $(grep -E 'partial|heap probes' "$W/leak.out")"
grep -Eq '^  \[[a-z]+\] leak_steady: ' "$W/leak.out" ||
	fail "the leak was not found under the budget: $(grep -A3 '^leak suspects' "$W/leak.out")"
log "leak: $(grep -E '^  \[[a-z]+\] leak_steady' "$W/leak.out")"

# 3. --max-overhead 0: never paused, nothing partial
run_memtel "$W/unl" 60 --no-cpu --max-overhead 0 "${FAST[@]}" --leak-age 3 \
	-o "$W/unl.d" -- "$LEAKER" --ring 10000 --leak-bytes 8192 --tick-ms 0 \
	--seconds 3
assert_exit 0
grep -q 'partial\|unverified' "$W/unl.out" "$W/unl.d/leaks.txt" &&
	fail "--max-overhead 0 paused the probes: $(grep -h 'partial\|unverified' "$W/unl.out" "$W/unl.d/leaks.txt")"
grep -q 'memtel.heap.probes.on_ratio' "$W/unl.d/metrics.jsonl" &&
	fail "--max-overhead 0: metrics.jsonl says partial"
pprof -raw "$W/unl.d/heap.pb.gz" 2>&1 | grep -q 'heap probes on' &&
	fail "--max-overhead 0: heap.pb.gz says partial"
exit 0
