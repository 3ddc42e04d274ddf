#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# C++ on allocators that define their own operator new/delete: jemalloc and
# tcmalloc, preloaded and linked, and mimalloc preloaded.
# tools/workloads/cxxalloc.cc knows its new/new[]/nothrow/aligned counts and
# sizes; at --sample-bytes 1 the heap
# profile must match them exactly, site by site. On glibc, libstdc++'s
# operators call malloc: every C++ allocation must be counted once, not
# twice (there the leaf frame is libstdc++'s operator new, so only the
# call count is compared). With two allocators mapped, or operator new
# defined by a library that is not the probed allocator, that file is
# named in a warning.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

LIBDIR=/usr/lib/x86_64-linux-gnu
JE=$LIBDIR/libjemalloc.so.2
TC=$LIBDIR/libtcmalloc_minimal.so.4
MI=$LIBDIR/libmimalloc.so.2
CXX=${CXX:-g++}
for f in "$JE" "$TC" "$MI" "$LIBDIR/libjemalloc.so" "$LIBDIR/libtcmalloc_minimal.so"; do
	[ -e "$f" ] || fail "$f missing (tools/deps.sh installs libjemalloc-dev, libgoogle-perftools-dev, libmimalloc2.0)"
done
command -v "$CXX" >/dev/null || fail "$CXX missing (tools/deps.sh installs g++)"

SRC=$MEMTEL_ROOT/tools/workloads/cxxalloc.cc
build() { # OUT EXTRA-LDFLAGS...
	local out=$1
	shift
	"$CXX" -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror \
		-I"$MEMTEL_ROOT/tools/workloads" "$SRC" -o "$out" "$@" \
		>"$W/cxx.log" 2>&1 || fail "building $out: $(cat "$W/cxx.log")"
}
build "$W/cxxalloc"
build "$W/cxxalloc-je" -ljemalloc
build "$W/cxxalloc-tc" -ltcmalloc_minimal
"$CXX" -O2 -shared -fPIC -Wall -Wextra -Werror "$MEMTEL_ROOT/tools/workloads/cxxnew.cc" \
	-o "$W/libcxxnew.so" >"$W/cxx.log" 2>&1 || fail "building libcxxnew.so: $(cat "$W/cxx.log")"
build "$W/cxxalloc-ownnew" -L"$W" -lcxxnew -Wl,-rpath,"$W"
mkdir -p "$W/arena"
"$CXX" -O2 -shared -fPIC -Wall -Wextra -Werror -DCXXNEW_ARENA \
	"$MEMTEL_ROOT/tools/workloads/cxxnew.cc" -o "$W/arena/libcxxnew.so" \
	>"$W/cxx.log" 2>&1 || fail "building the arena libcxxnew.so: $(cat "$W/cxx.log")"
build "$W/cxxalloc-arena" -L"$W/arena" -lcxxnew -Wl,-rpath,"$W/arena"
build "$W/cxxalloc-static" -static-libstdc++
"$W/cxxalloc" --expect >"$W/expect.json" || fail "cxxalloc --expect"
"$W/cxxalloc" --sampled --expect >"$W/expect-sampled.json" || fail "cxxalloc --sampled --expect"

# check_case NAME EXPECTED-ALLOCATOR-PATH-ERE: memtel-bpf's output in $W/NAME*
check_case() {
	local name=$1 want=$2
	assert_exit 0 "$name: memtel-bpf"
	assert_no_sanitizer "$W/$name.err"
	grep -Eq "^memtel-bpf: attached [0-9]+ heap probes to $want " "$W/$name.err" ||
		fail "$name: probes not attached to $want: $(grep attached "$W/$name.err")"
	assert_no_drops "$W/$name.out"
	# where libstdc++'s or another library's operator new calls malloc,
	# that operator is the leaf: only counts are compared there
	case $name in
	glibc | own-new | static-libstdcxx) ;;
	arena-new) ;; # its operator new never reaches malloc
	*) check_profile exact "$W/$name/heap.pb.gz" "$W/expect.json" ;;
	esac
}

# one_run NAME EXPECTED-ALLOCATOR-PATH-ERE PROG: launch mode, for linked
# allocators
one_run() {
	local name=$1 want=$2 prog=$3
	log "case $name (launch)"
	watch_log "$W/$name.out" "$W/$name.err"
	spawn "$W/$name.out" "$W/$name.err" "$MEMTEL_BIN" \
		--no-cpu --sample-bytes 1 -o "$W/$name" -- "$prog"
	wait_exit "$SPAWN_PID" 120 || fail "$name: memtel-bpf did not exit"
	grep -q '"mode": "exact"' "$W/$name.out" || fail "$name: the workload did not run to the end"
	check_case "$name" "$want"
}

# pid_run NAME EXPECTED-ALLOCATOR-PATH-ERE PRELOAD PROG: preloaded into
# the workload, attached by pid
pid_run() {
	local name=$1 want=$2 pre=$3 prog=$4
	log "case $name (--pid, LD_PRELOAD=$pre)"
	run_preloaded "$name" "$pre" "$prog" -- --no-cpu --sample-bytes 1 -o "$W/$name"
	grep -q '"mode": "exact"' "$W/$name.target" || fail "$name: the workload did not run to the end"
	check_case "$name" "$want"
}

pid_run jemalloc-preload "$JE" "$JE" "$W/cxxalloc"
pid_run tcmalloc-preload "$LIBDIR/libtcmalloc_minimal\\.so[.0-9]*" "$TC" "$W/cxxalloc"
pid_run mimalloc-preload "$LIBDIR/libmimalloc\\.so[.0-9]*" "$MI" "$W/cxxalloc"
one_run jemalloc-linked "$JE" "$W/cxxalloc-je"
one_run tcmalloc-linked "$LIBDIR/libtcmalloc_minimal\\.so[.0-9]*" "$W/cxxalloc-tc"
one_run glibc "[^ ]*/libc\\.so\\.6" "$W/cxxalloc"
for name in jemalloc-preload tcmalloc-preload mimalloc-preload jemalloc-linked tcmalloc-linked glibc; do
	! grep -q 'warning' "$W/$name.err" || fail "$name: unexpected warning: $(grep warning "$W/$name.err")"
done

# Never silent: jemalloc preloaded into a program linked with tcmalloc has
# two allocators; the one not probed is named in one warning line.
pid_run two-allocators "$JE" "$JE" "$W/cxxalloc-tc"
n=$(grep -c '^memtel-bpf: warning: .*libtcmalloc_minimal.* not probed .*likely cause' "$W/two-allocators.err")
[ "$n" = 1 ] || fail "two-allocators: expected one warning naming tcmalloc, got $n"

# Default byte sampling: jemalloc's operator new[] jumps into operator new;
# counted once, its scaled estimate is within 15% (~6 sigma) of the truth
# (the sampler's alone: no overhead budget pausing the probes of this
# heavy loop).
log "case sampled (--pid, LD_PRELOAD=$JE)"
run_preloaded sampled "$JE" "$W/cxxalloc" --sampled -- --no-cpu --max-overhead 0 -o "$W/sampled"
assert_exit 0 "sampled: memtel-bpf"
assert_no_sanitizer "$W/sampled.err"
grep -q '"mode": "sampled"' "$W/sampled.target" || fail "sampled: the workload did not run to the end"
assert_no_drops "$W/sampled.out"
check_profile approx "$W/sampled/heap.pb.gz" "$W/expect-sampled.json"

# A library with its own operator new (and no malloc) beside glibc's,
# which never calls malloc: what it serves is not seen, so it is named.
one_run arena-new "[^ ]*/libc\\.so\\.6" "$W/cxxalloc-arena"
n=$(grep -c '^memtel-bpf: warning: operator new .*arena/libcxxnew\.so.* not probed .*likely cause' "$W/arena-new.err")
[ "$n" = 1 ] || fail "arena-new: expected one warning naming libcxxnew.so, got $n: $(grep warning "$W/arena-new.err")"
# The same library forwarding to malloc, and a program with a static
# libstdc++ (whose operator new is in the executable, as in g++'s cc1plus):
# their operator new calls the probed malloc, every C++ allocation is
# counted, and there is nothing to warn about.
one_run own-new "[^ ]*/libc\\.so\\.6" "$W/cxxalloc-ownnew"
one_run static-libstdcxx "[^ ]*/libc\\.so\\.6" "$W/cxxalloc-static"
for name in own-new static-libstdcxx; do
	! grep -q 'warning' "$W/$name.err" || fail "$name: unexpected warning: $(grep warning "$W/$name.err")"
done
# the workload's own allocations, plus a few from the C++ runtime's startup
want=$(python3 -c 'import json,sys; print(sum(s["alloc_objects"] for s in json.load(open(sys.argv[1]))["sites"].values()))' "$W/expect.json")
for name in glibc static-libstdcxx own-new; do
	seen=$(sed -n 's/^allocation calls seen: \([0-9]*\),.*/\1/p' "$W/$name.out")
	[ -n "$seen" ] || fail "$name: no 'allocation calls seen' line"
	[ "$seen" -ge "$want" ] && [ "$seen" -lt $((want + 64)) ] ||
		fail "$name: allocation calls seen $seen, expected $want (+ < 64 from startup)"
done
exit 0
