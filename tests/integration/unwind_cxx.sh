#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# C++ symbolization: tools/workloads/cxxinline.cc, built here with
# g++ -O2 -g -fomit-frame-pointer (the Makefile builds C only).
#  heap: operator new's caller is ns::Blob::create(unsigned long), inlined
#        into ns::make_blob, inlined into the class template method
#        ns::Widget<int>::build(unsigned long): one pprof Location with
#        three lines (create at the `new`, make_blob at the call of create,
#        build at the call of make_blob), then main at the call of build;
#  cpu:  the hot loop is ns::Widget<int>::mix(unsigned long), inlined into
#        ns::Widget<int>::spin(double): most samples must be in one
#        Location with mix (at a line of its loop) and spin, then main.
# Names must be demangled; lines come from the `LINE:name` markers.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

SRC=$MEMTEL_ROOT/tools/workloads/cxxinline.cc
DEEPCHECK=$MEMTEL_ROOT/tools/workloads/deepcheck.py
CXX=${CXX:-g++}
COUNT=100

require_bpf
require_memtel
require_go
command -v "$CXX" >/dev/null || skip "no C++ compiler ($CXX)"

"$CXX" -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror "$SRC" -o "$W/cxxinline" \
	>"$W/cxx.log" 2>&1 || fail "building cxxinline: $(cat "$W/cxx.log")"

# marker NAME: the line of the one `/* LINE:NAME */` in the source.
marker() {
	local n
	n=$(grep -n "/\* LINE:$1 \*/" "$SRC" | cut -d: -f1)
	case $n in
	'' | *[!0-9]*) fail "no single marker LINE:$1 in $SRC" ;;
	esac
	echo "$n"
}
L_create_new=$(marker create_new) || exit 1
L_make_blob_call=$(marker make_blob_call) || exit 1
L_build_call=$(marker build_call) || exit 1
L_main_build=$(marker main_build) || exit 1
L_mix_begin=$(marker mix_begin) || exit 1
L_mix_end=$(marker mix_end) || exit 1
L_spin_call=$(marker spin_call) || exit 1
L_main_spin=$(marker main_spin) || exit 1

# check NAME ARG...: deepcheck.py, failing with its output.
check() {
	local name=$1
	shift
	python3 "$DEEPCHECK" "$@" >"$W/$name.check" 2>&1 ||
		fail "$name: $(cat "$W/$name.check")"
	cat "$W/$name.check"
}

log "heap"
run_memtel "$W/heap" 120 --sample-bytes 1 --no-cpu -o "$W/heap.prof" -- \
	"$W/cxxinline" --heap "$COUNT"
assert_exit 0
assert_no_sanitizer "$W/heap.err"
grep -q '^done$' "$W/heap.out" || fail "cxxinline --heap did not run to the end"
assert_file "$W/heap.prof/heap.pb.gz"
assert_no_drops "$W/heap.out"
# make_blob is a static function: DWARF has no linkage name for it.
check heap stack "$W/heap.prof/heap.pb.gz" --count "$COUNT" \
	'operator new(unsigned long)' \
	"~ns::Blob::create(unsigned long)@cxxinline.cc:$L_create_new" \
	"~make_blob|ns::make_blob(unsigned long)@cxxinline.cc:$L_make_blob_call" \
	"ns::Widget<int>::build(unsigned long)@cxxinline.cc:$L_build_call" \
	"main@cxxinline.cc:$L_main_build"

log "cpu"
run_memtel "$W/cpu" 120 --no-heap -o "$W/cpu.prof" -- "$W/cxxinline" --cpu 3
assert_exit 0
assert_no_sanitizer "$W/cpu.err"
grep -q '^done$' "$W/cpu.out" || fail "cxxinline --cpu did not run to the end"
assert_file "$W/cpu.prof/cpu.pb.gz"
check cpu stack "$W/cpu.prof/cpu.pb.gz" --min-share 0.7 \
	"~ns::Widget<int>::mix(unsigned long)@cxxinline.cc:$L_mix_begin-$L_mix_end" \
	"ns::Widget<int>::spin(double)@cxxinline.cc:$L_spin_call" \
	"main@cxxinline.cc:$L_main_spin"
