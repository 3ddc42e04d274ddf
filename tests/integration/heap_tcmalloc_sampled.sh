#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tcmalloc running its own sampler (TCMALLOC_SAMPLE_PARAMETER=524288):
# memtel-bpf probes only its sampled path, never malloc/free.
# tools/workloads/tcsampled.cc (linked with -ltcmalloc) knows its totals:
# 1.6 GB of 4 KiB new[]/delete[] (freed), 32 kept 2 MiB blocks, 200 freed
# 2 MiB blocks.
#  1. launched with the variable set: -v names the two sampled-path probes,
#     no "heap probes" line (malloc/free not probed), the summary says who
#     sampled; every site's alloc and in-use estimates within 15% of the
#     truth (about 6 sigma for 1.6 GB at 512 KiB, ~6 sigma for the kept
#     2 MiB blocks, each sampled with probability 1 - exp(-4)), in-use 0
#     where everything was freed.
#  2. --pid on a running one: the only uprobes memtel-bpf holds (bpftool
#     perf) are those two, both in libtcmalloc; same estimates.
#  3. the same program without the variable (sampling off), or with
#     --sample-bytes 1 (every allocation): the full malloc/free probes;
#     linked with libtcmalloc.a (its frames are the program's): one
#     warning and the full probes.
#  4. jemalloc with MALLOC_CONF=prof:true samples too, but Debian's stripped
#     build has nothing to hook: one warning line, the full probes; with
#     prof_active:false no warning.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
command -v bpftool >/dev/null || skip "bpftool not installed"

LIBDIR=/usr/lib/x86_64-linux-gnu
CXX=${CXX:-g++}
[ -e "$LIBDIR/libtcmalloc.so" ] || fail "$LIBDIR/libtcmalloc.so missing (tools/deps.sh installs libgoogle-perftools-dev)"
command -v "$CXX" >/dev/null || fail "$CXX missing (tools/deps.sh installs g++)"
PROG=$W/tcsampled
"$CXX" -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror \
	-I"$MEMTEL_ROOT/tools/workloads" "$MEMTEL_ROOT/tools/workloads/tcsampled.cc" \
	-o "$PROG" -ltcmalloc >"$W/cxx.log" 2>&1 || fail "building tcsampled: $(cat "$W/cxx.log")"
"$PROG" --expect >"$W/expect.json" || fail "tcsampled --expect"
PERIOD=524288

# check_sampled NAME: the run's stderr, summary and profile
check_sampled() {
	local name=$1
	assert_exit 0 "$name: memtel-bpf"
	assert_no_sanitizer "$W/$name.err"
	grep -q "^memtel-bpf: attached 2 probes to the sampled path of $LIBDIR/libtcmalloc\.so[.0-9]* .*malloc/free are not probed" "$W/$name.err" ||
		fail "$name: sampled-path probes not attached: $(grep -E 'attached|warning' "$W/$name.err")"
	if grep -q 'heap probes to' "$W/$name.err"; then
		fail "$name: malloc/free probes attached although tcmalloc samples: $(grep 'heap probes to' "$W/$name.err")"
	fi
	grep -q "^heap sampling: by tcmalloc's own sampler (one sample per $PERIOD bytes), only its sampled path probed" "$W/$name.out" ||
		fail "$name: the summary does not say tcmalloc sampled: $(grep 'heap sampling' "$W/$name.out")"
	assert_no_drops "$W/$name.out"
	check_profile approx "$W/$name/heap.pb.gz" "$W/expect.json"
}

# --- 1: launched --------------------------------------------------------------
TCMALLOC_SAMPLE_PARAMETER=$PERIOD run_memtel "$W/launch" 120 -v --no-cpu \
	-o "$W/launch" -- "$PROG"
grep -q '"mode": "sampled"' "$W/launch.out" || fail "launch: tcsampled did not run to the end"
check_sampled launch

# --- 2: --pid -------------------------------------------------------------------
watch_log "$W/pid.target" "$W/pid.target.err"
spawn "$W/pid.target" "$W/pid.target.err" env TCMALLOC_SAMPLE_PARAMETER=$PERIOD \
	"$PROG" --wait-signal
TPID=$SPAWN_PID
wait_for_line "$W/pid.target" '^ready [0-9]+$' 10 "$TPID" || fail "tcsampled did not start"
start_memtel "$W/pid" --no-cpu -o "$W/pid" --pid "$TPID"
# the two sampled-path probes, both in libtcmalloc, and nothing else
assert_uprobes_in "$TPID" 2 'libtcmalloc\.so[.0-9]*'
kill -USR1 "$TPID"
wait_exit "$TPID" 120 || fail "tcsampled did not finish"
assert_eq "tcsampled exit code" 0 "$EXIT_CODE"
grep -q '"mode": "sampled"' "$W/pid.target" || fail "pid: tcsampled did not run to the end"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not exit after its target"
check_sampled pid

# --- 3: sampling off: the full probes ---------------------------------------------
env -u TCMALLOC_SAMPLE_PARAMETER "$MEMTEL_BIN" --no-cpu -o "$W/off" -- "$PROG" \
	>"$W/off.out" 2>"$W/off.err" || fail "off: memtel-bpf failed: $(cat "$W/off.err")"
grep -q "^memtel-bpf: attached [0-9]* heap probes to $LIBDIR/libtcmalloc\.so" "$W/off.err" ||
	fail "off: malloc/free probes not attached: $(grep attached "$W/off.err")"
if grep -q 'sampled path' "$W/off.err"; then
	fail "off: sampled-path probes attached although tcmalloc does not sample"
fi
# --sample-bytes 1 asks for every allocation: the full probes, sampling or not
TCMALLOC_SAMPLE_PARAMETER=$PERIOD "$MEMTEL_BIN" --no-cpu --sample-bytes 1 -o "$W/exact" \
	-- "$PROG" --pairs 1 >"$W/exact.out" 2>"$W/exact.err" ||
	fail "exact: memtel-bpf failed: $(cat "$W/exact.err")"
grep -q "^memtel-bpf: attached [0-9]* heap probes to $LIBDIR/libtcmalloc\.so" "$W/exact.err" ||
	fail "exact: --sample-bytes 1 did not keep the malloc/free probes: $(grep attached "$W/exact.err")"

# tcmalloc linked into the executable: its frames could not be told from
# the program's, so one warning and the full probes
"$CXX" -O2 -g -I"$MEMTEL_ROOT/tools/workloads" "$MEMTEL_ROOT/tools/workloads/tcsampled.cc" \
	-o "$W/tcsampled-static" "$LIBDIR/libtcmalloc.a" -lunwind -lpthread >"$W/cxx.log" 2>&1 ||
	fail "building tcsampled with libtcmalloc.a: $(cat "$W/cxx.log")"
TCMALLOC_SAMPLE_PARAMETER=$PERIOD "$MEMTEL_BIN" --no-cpu -o "$W/static" \
	-- "$W/tcsampled-static" --pairs 1 >"$W/static.out" 2>"$W/static.err" ||
	fail "static: memtel-bpf failed: $(cat "$W/static.err")"
grep -q "^memtel-bpf: attached [0-9]* heap probes to $W/tcsampled-static (executable)" "$W/static.err" ||
	fail "static: malloc/free probes not attached: $(grep attached "$W/static.err")"
n=$(grep -c "^memtel-bpf: warning: tcmalloc's own sampler .* cannot be hooked (it is linked into the executable" "$W/static.err")
[ "$n" = 1 ] || fail "static: expected one warning, got $n: $(cat "$W/static.err")"

# --- 4: jemalloc's sampler: warned about, full probes ------------------------------
require_workloads
JE=$LIBDIR/libjemalloc.so.2
[ -e "$JE" ] || fail "$JE missing (tools/deps.sh installs libjemalloc-dev)"
for conf in prof:true prof:true,prof_active:false; do
	name=je-${conf//[:,]/-}
	# by pid: the profiler must not carry the preload (an ASan build
	# refuses another allocator first); the config is read from the
	# target's environment
	MALLOC_CONF=$conf run_preloaded "$name" "$JE" "$HEAPSITES" -- --no-cpu -o "$W/$name"
	[ "$EXIT_CODE" = 0 ] || fail "$name: memtel-bpf failed: $(cat "$W/$name.err")"
	grep -q "^memtel-bpf: attached [0-9]* heap probes to $JE " "$W/$name.err" ||
		fail "$name: malloc/free probes not attached: $(grep attached "$W/$name.err")"
	n=$(grep -c "^memtel-bpf: warning: jemalloc's own sampler (prof:true) is on .* cannot be hooked .*--sampler" "$W/$name.err")
	want=1
	[ "$conf" = prof:true ] || want=0
	[ "$n" = "$want" ] || fail "$name: expected $want warning(s) about jemalloc's sampler, got $n: $(cat "$W/$name.err")"
done
log "ok"
