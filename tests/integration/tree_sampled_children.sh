#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A process launched through a wrapper gets the same cheap heap probes as
# one launched directly: the children of the launched process, not only
# the process itself, are looked at for what samples in-process.
#  1. `--sampler -- sh -c 'heapsites; true'`: the preloaded
#     libmemtel-sampler.so is inherited by the shell's child, so the child
#     gets the otel_memory USDT probes too, and never a uprobe on every
#     malloc/free of the sampler library (each of those traps). With
#     MEMTEL_SAMPLER_MEAN=1 every allocation is sampled: the child's sites
#     are exact.
#  2. `-- sh -c 'tcsampled; true'` with TCMALLOC_SAMPLE_PARAMETER set: the
#     child's tcmalloc gets the two sampled-path probes, no malloc/free
#     probe on libtcmalloc, and its estimates are within the same 15% as
#     when it is launched directly (heap_tcmalloc_sampled.sh).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel

HEAPSITES=$MEMTEL_WL_DIR/heapsites
[ -x "$HEAPSITES" ] || fail "heapsites not built"
LIB=$(dirname "$MEMTEL_BIN")/libmemtel-sampler.so
[ -r "$LIB" ] || LIB=$MEMTEL_ROOT/.output/libmemtel-sampler.so
[ -r "$LIB" ] || fail "libmemtel-sampler.so not built (make sampler)"

# children_of ERRFILE: the pids memtel-bpf says it followed
children_of() { sed -n 's/^memtel-bpf: following pid \([0-9]*\), child of .*/\1/p' "$1"; }

# --- 1: --sampler through a shell ----------------------------------------------
"$HEAPSITES" --expect >"$W/exact.json" || fail "heapsites --expect"
MEMTEL_SAMPLER_MEAN=1 run_memtel "$W/sh" 120 --no-cpu -o "$W/sh" \
	--sampler -- sh -c "'$HEAPSITES'; true"
assert_exit 0
assert_no_sanitizer "$W/sh.err"
grep -q '"mode": "exact"' "$W/sh.out" || fail "heapsites did not run to the end"
kids=$(children_of "$W/sh.err")
[ -n "$kids" ] || fail "the shell's child was not followed: $(cat "$W/sh.err")"
for k in $kids; do
	grep -q "^memtel-bpf: attached otel_memory USDT probes in [0-9]* file(s) of pid $k:" "$W/sh.err" ||
		fail "child $k did not get the otel_memory probes: $(grep -E 'attached|warning' "$W/sh.err")"
done
if grep -q 'heap probes to' "$W/sh.err"; then
	fail "malloc/free uprobes attached although the processes sample in-process: $(grep 'heap probes to' "$W/sh.err")"
fi
assert_no_drops "$W/sh.out"
check_profile exact "$W/sh/heap.pb.gz" "$W/exact.json"

# --- 2: tcmalloc sampling, through a shell ---------------------------------------
LIBDIR=/usr/lib/x86_64-linux-gnu
CXX=${CXX:-g++}
[ -e "$LIBDIR/libtcmalloc.so" ] || fail "$LIBDIR/libtcmalloc.so missing (tools/deps.sh installs libgoogle-perftools-dev)"
PROG=$W/tcsampled
"$CXX" -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror \
	-I"$MEMTEL_ROOT/tools/workloads" "$MEMTEL_ROOT/tools/workloads/tcsampled.cc" \
	-o "$PROG" -ltcmalloc >"$W/cxx.log" 2>&1 || fail "building tcsampled: $(cat "$W/cxx.log")"
"$PROG" --expect >"$W/expect.json" || fail "tcsampled --expect"
TCMALLOC_SAMPLE_PARAMETER=524288 run_memtel "$W/tc" 120 --no-cpu -o "$W/tc" \
	-- sh -c "'$PROG'; true"
assert_exit 0
assert_no_sanitizer "$W/tc.err"
grep -q '"mode": "sampled"' "$W/tc.err" "$W/tc.out" || fail "tcsampled did not run to the end"
grep -Eq "^memtel-bpf: attached 2 probes to the sampled path of $LIBDIR/libtcmalloc\.so[.0-9]* in pid [0-9]+:" "$W/tc.err" ||
	fail "the child's tcmalloc sampled path was not probed: $(grep -E 'attached|warning' "$W/tc.err")"
if grep -q 'heap probes to .*libtcmalloc' "$W/tc.err"; then
	fail "malloc/free probes on tcmalloc although it samples: $(grep 'heap probes to' "$W/tc.err")"
fi
assert_no_drops "$W/tc.out"
check_profile approx "$W/tc/heap.pb.gz" "$W/expect.json"
