#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Heap profiling through the otel_memory USDT contract, with our in-process
# sampler (libmemtel-sampler.so):
#  1. --sampler -- heapsites with MEMTEL_SAMPLER_MEAN=1: every allocation is
#     a sample of weight = its size, so every site's counts and bytes are
#     exact (frees and reallocs of sampled pointers leave in-use exactly
#     right), and no malloc/free uprobe is attached (-v says which).
#  2. heapsites --gib 1 preloaded with the library at the default mean (512
#     KiB), profiled with --pid: the only uprobes memtel-bpf holds (bpftool
#     perf) are the library's probe sites, and the estimates are within
#     15% (heapsites sizes its mix so one sigma is <= 3.6% per site at 1 GiB,
#     the same Poisson process as the built-in sampler: ~4 sigma), in-use 0
#     where every block was freed.
#  3. C++ on jemalloc, whose operator new never calls malloc: the library
#     interposes the operators too, so cxxalloc preloaded with
#     "libmemtel-sampler.so:libjemalloc.so.2" at MEMTEL_SAMPLER_MEAN=1 has
#     every new/new[]/nothrow/aligned site exact.
#  4. heapsites linked with the library (no preload, no --sampler), launched:
#     its probes are found among the mapped libraries and used on their
#     own; exact at mean 1 again.
#  5. --sampler never falls back silently: a missing library, or a static
#     program (which ignores LD_PRELOAD), is one error line and exit 1.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
command -v bpftool >/dev/null || skip "bpftool not installed"

LIB=$(dirname "$MEMTEL_BIN")/libmemtel-sampler.so
[ -r "$LIB" ] || LIB=$MEMTEL_ROOT/.output/libmemtel-sampler.so
[ -r "$LIB" ] || fail "libmemtel-sampler.so not built (make sampler)"
SITES=$(readelf -n "$LIB" | grep -c 'Provider: otel_memory')
[ "$SITES" -gt 0 ] || fail "$LIB has no otel_memory probes"

# --- 1: launch mode, every allocation ---------------------------------------
"$HEAPSITES" --expect >"$W/exact.json" || fail "heapsites --expect"
MEMTEL_SAMPLER_MEAN=1 run_memtel "$W/exact" 120 -v --no-cpu -o "$W/exact" \
	--sampler -- "$HEAPSITES"
assert_exit 0
assert_no_sanitizer "$W/exact.err"
grep -q '"mode": "exact"' "$W/exact.out" || fail "heapsites did not run to the end"
grep -q "LD_PRELOAD=[^:]*libmemtel-sampler.so" "$W/exact.err" ||
	fail "--sampler did not put the library first in LD_PRELOAD"
grep -q 'attached otel_memory USDT probes' "$W/exact.err" ||
	fail "no otel_memory probes attached"
if grep -q 'heap probes to' "$W/exact.err"; then
	fail "malloc/free uprobes attached although the program samples in-process"
fi
grep -q 'heap sampling: in the program' "$W/exact.out" ||
	fail "the summary does not say the program sampled"
assert_no_drops "$W/exact.out"
check_profile exact "$W/exact/heap.pb.gz" "$W/exact.json"

# --- 2: preloaded by hand, --pid, default mean --------------------------------
"$HEAPSITES" --expect --gib 1 >"$W/gib.json" || fail "heapsites --expect --gib"
watch_log "$W/gib.target" "$W/gib.target.err"
spawn "$W/gib.target" "$W/gib.target.err" env LD_PRELOAD="$LIB" \
	"$HEAPSITES" --gib 1 --wait-signal
TPID=$SPAWN_PID
wait_for_line "$W/gib.target" '^ready [0-9]+$' 10 "$TPID" || fail "heapsites did not start"
start_memtel "$W/gib" --no-cpu -o "$W/gib" --pid "$TPID"
# every uprobe of ours must sit in the sampler library, one per probe site
assert_uprobes_in "$TPID" "$SITES" 'libmemtel-sampler\.so'
kill -USR1 "$TPID"
wait_exit "$TPID" 120 || fail "heapsites did not finish"
assert_eq "heapsites exit code" 0 "$EXIT_CODE"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit after its target"
assert_exit 0
assert_no_sanitizer "$W/gib.err"
assert_no_drops "$W/gib.out"
check_profile approx "$W/gib/heap.pb.gz" "$W/gib.json"

# --- 3: C++ operators on jemalloc ------------------------------------------------
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
CXX=${CXX:-g++}
[ -e "$JE" ] || fail "$JE missing (tools/deps.sh installs libjemalloc-dev)"
command -v "$CXX" >/dev/null || fail "$CXX missing (tools/deps.sh installs g++)"
"$CXX" -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror -I"$MEMTEL_ROOT/tools/workloads" \
	"$MEMTEL_ROOT/tools/workloads/cxxalloc.cc" -o "$W/cxxalloc" >"$W/cxx.log" 2>&1 ||
	fail "building cxxalloc: $(cat "$W/cxx.log")"
"$W/cxxalloc" --expect >"$W/cxx.json" || fail "cxxalloc --expect"
export MEMTEL_SAMPLER_MEAN=1
run_preloaded cxx "$LIB:$JE" "$W/cxxalloc" -- --no-cpu -o "$W/cxx"
unset MEMTEL_SAMPLER_MEAN
assert_exit 0 "cxx: memtel-bpf"
assert_no_sanitizer "$W/cxx.err"
grep -q '"mode": "exact"' "$W/cxx.target" || fail "cxx: the workload did not run to the end"
grep -q 'attached otel_memory USDT probes' "$W/cxx.err" || fail "cxx: not in USDT mode"
assert_no_drops "$W/cxx.out"
check_profile exact "$W/cxx/heap.pb.gz" "$W/cxx.json"

# --- 4: linked, not preloaded ------------------------------------------------------
LIBDIR_S=$(dirname "$LIB")
${CC:-cc} -O2 -g -fomit-frame-pointer -D_GNU_SOURCE -I"$MEMTEL_ROOT/tools/workloads" \
	"$MEMTEL_ROOT/tools/workloads/heapsites.c" -o "$W/heapsites-linked" \
	-L"$MEMTEL_WL_DIR" -lworkload -L"$LIBDIR_S" -l:libmemtel-sampler.so \
	-Wl,-rpath,"$MEMTEL_WL_DIR" -Wl,-rpath,"$LIBDIR_S" >"$W/cc.log" 2>&1 ||
	fail "linking heapsites with the sampler: $(cat "$W/cc.log")"
MEMTEL_SAMPLER_MEAN=1 run_memtel "$W/linked" 120 --no-cpu -o "$W/linked" \
	-- "$W/heapsites-linked"
assert_exit 0
assert_no_sanitizer "$W/linked.err"
grep -q '"mode": "exact"' "$W/linked.out" || fail "linked: heapsites did not run to the end"
grep -q 'attached otel_memory USDT probes' "$W/linked.err" || fail "linked: not in USDT mode"
assert_no_drops "$W/linked.out"
check_profile exact "$W/linked/heap.pb.gz" "$W/exact.json"

# --- 5: errors ---------------------------------------------------------------------
MEMTEL_SAMPLER_LIB=$W/nonexistent.so run_memtel "$W/nolib" 30 --no-cpu \
	-o "$W/nolib" --sampler -- "$HEAPSITES"
assert_exit 1
assert_error_line "$W/nolib.err" 'sampler.*cannot find libmemtel-sampler\.so'
printf '#include <stdlib.h>\nint main(void) { void *volatile p = malloc(64); free(p); return 0; }\n' \
	>"$W/static.c"
${CC:-cc} -static -O2 "$W/static.c" -o "$W/static" >"$W/cc.log" 2>&1 ||
	fail "building a static program: $(cat "$W/cc.log")"
run_memtel "$W/static" 30 --no-cpu -o "$W/static-prof" --sampler -- "$W/static"
assert_exit 1
assert_error_line "$W/static.err" 'otel_memory probes.*none found'
log "ok"
