#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Symbolization of stripped binaries (strip -s: only .dynsym is left).
#  1. debug info in a separate file found by build ID
#     (/usr/lib/debug/.build-id/xx/yyyy.debug): names and lines as unstripped;
#  2. no debug info at all (-rdynamic): names from .dynsym, and the
#     profile's mappings keep each object's build ID;
#  3. debug info found through .gnu_debuglink (ELF.debug next to the ELF),
#     profiled by --pid (the target is alive when the profile is written)
#     and launched with `--` (it has exited by then: the lookup next to the
#     binary must not depend on /proc/PID still being there).
# Each case builds its own deepchain + libdeep.so from the sources with a
# random build ID, so its debug files can collide with nothing else.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

SRC=$MEMTEL_ROOT/tools/workloads
DEEPCHECK=$SRC/deepcheck.py
DEBUG_ROOT=/usr/lib/debug/.build-id
CC=${CC:-cc}
# The Makefile's workload flags (WL_CFLAGS).
WL_CFLAGS=(-O2 -g -fomit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE)
COUNT=50

CREATED_FILES=()
CREATED_DIRS=()
remove_debug_files() {
	local f
	for f in "${CREATED_FILES[@]}"; do
		rm -f -- "$f"
	done
	for f in "${CREATED_DIRS[@]}"; do
		rmdir -- "$f" 2>/dev/null
	done
	return 0
}
# shellcheck disable=SC2034 # run by common.sh on exit
CLEANUP_HOOK=remove_debug_files

require_bpf
require_memtel
require_go
for tool in objcopy strip readelf; do
	command -v "$tool" >/dev/null || skip "$tool (binutils) not installed"
done

random_build_id() {
	od -An -tx1 -N20 /dev/urandom | tr -d ' \n'
}

# build DIR [CFLAGS...]: DIR/deepchain and DIR/libdeep.so with random build IDs.
build() {
	local dir=$1
	shift
	mkdir -p "$dir"
	"$CC" "${WL_CFLAGS[@]}" "$@" -fPIC -shared "$SRC/libdeep.c" -o "$dir/libdeep.so" \
		-Wl,--build-id=0x"$(random_build_id)" >"$W/cc.log" 2>&1 ||
		fail "building libdeep.so: $(cat "$W/cc.log")"
	"$CC" "${WL_CFLAGS[@]}" "$@" -I"$SRC" "$SRC/deepchain.c" -o "$dir/deepchain" \
		-L"$dir" -ldeep -Wl,-rpath,"$dir" -Wl,--build-id=0x"$(random_build_id)" \
		>"$W/cc.log" 2>&1 || fail "building deepchain: $(cat "$W/cc.log")"
}

build_id() { # ELF
	readelf -n "$1" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p'
}

# strip_all ELF: strip -s, and make sure nothing but .dynsym is left.
strip_all() {
	strip -s "$1" || fail "strip -s $1"
	if readelf -S "$1" | grep -Eq '\.(symtab|debug_)'; then
		fail "$1 still has .symtab or .debug_* after strip -s"
	fi
}

# to_build_id_dir ELF: move its debug info to DEBUG_ROOT/xx/yyyy.debug.
to_build_id_dir() {
	local elf=$1 id dir file
	id=$(build_id "$elf")
	[ ${#id} -eq 40 ] || fail "no build ID in $elf"
	dir=$DEBUG_ROOT/${id:0:2}
	file=$dir/${id:2}.debug
	[ -e "$file" ] && fail "$file already exists"
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir" || fail "mkdir $dir"
		CREATED_DIRS+=("$dir")
	fi
	CREATED_FILES+=("$file")
	objcopy --only-keep-debug "$elf" "$file" || fail "objcopy --only-keep-debug $elf"
	strip_all "$elf"
}

# to_debuglink ELF: debug info to ELF.debug next to it, linked by
# .gnu_debuglink (no build-ID file exists).
to_debuglink() {
	local elf=$1
	objcopy --only-keep-debug "$elf" "$elf.debug" || fail "objcopy --only-keep-debug $elf"
	strip_all "$elf"
	objcopy --add-gnu-debuglink="$elf.debug" "$elf" || fail "objcopy --add-gnu-debuglink $elf"
}

# profile NAME DIR: heap profile of DIR/deepchain --heap into $W/NAME.
profile() {
	local name=$1 dir=$2
	run_memtel "$W/$name" 120 --sample-bytes 1 --no-cpu -o "$W/$name.prof" -- \
		"$dir/deepchain" --heap --count "$COUNT"
	assert_exit 0
	assert_no_sanitizer "$W/$name.err"
	grep -q '^done ' "$W/$name.out" || fail "$name: deepchain did not run to the end"
	assert_file "$W/$name.prof/heap.pb.gz"
}

# check NAME ARG...: deepcheck.py chain on $W/NAME's heap profile.
check() {
	local name=$1
	shift
	python3 "$DEEPCHECK" "$@" >"$W/$name.check" 2>&1 ||
		fail "$name: $(cat "$W/$name.check")"
	cat "$W/$name.check"
}

# profile_pid NAME DIR: the same, by --pid, SIGINT while the target lives.
profile_pid() {
	local name=$1 dir=$2 target
	watch_log "$W/$name.target.out" "$W/$name.target.err"
	spawn "$W/$name.target.out" "$W/$name.target.err" \
		"$dir/deepchain" --heap --count "$COUNT" --wait-signal --hold
	target=$SPAWN_PID
	wait_for_line "$W/$name.target.out" '^ready [0-9]+$' 10 "$target" ||
		fail "$name: deepchain did not start"
	start_memtel "$W/$name" --pid "$target" --sample-bytes 1 --no-cpu -o "$W/$name.prof"
	kill -USR1 "$target"
	wait_for_line "$W/$name.target.out" '^done ' 30 "$target" ||
		fail "$name: deepchain did not finish"
	kill -INT "$MEMTEL_PID"
	wait_exit "$MEMTEL_PID" 60 || fail "$name: memtel-bpf did not exit within 60s of SIGINT"
	assert_exit 0
	alive "$target" || fail "$name: target died while being profiled"
	assert_no_sanitizer "$W/$name.err"
	assert_file "$W/$name.prof/heap.pb.gz"
}

log "case 1: debug info by build ID under $DEBUG_ROOT"
build "$W/bid"
to_build_id_dir "$W/bid/deepchain"
to_build_id_dir "$W/bid/libdeep.so"
profile bid "$W/bid"
check bid chain "$W/bid.prof/heap.pb.gz" heap --count "$COUNT"

log "case 2: no debug info, -rdynamic: .dynsym names, build IDs kept"
build "$W/dyn" -rdynamic
exe_id=$(build_id "$W/dyn/deepchain")
lib_id=$(build_id "$W/dyn/libdeep.so")
strip_all "$W/dyn/deepchain"
strip_all "$W/dyn/libdeep.so"
profile dyn "$W/dyn"
check dyn chain "$W/dyn.prof/heap.pb.gz" heap --no-lines --count "$COUNT"
check dyn mapping "$W/dyn.prof/heap.pb.gz" deepchain "$exe_id"
check dyn mapping "$W/dyn.prof/heap.pb.gz" libdeep.so "$lib_id"

log "case 3: debug info by .gnu_debuglink"
build "$W/link"
to_debuglink "$W/link/deepchain"
to_debuglink "$W/link/libdeep.so"
profile_pid link-pid "$W/link"
check link-pid chain "$W/link-pid.prof/heap.pb.gz" heap --count "$COUNT"
profile link "$W/link"
check link chain "$W/link.prof/heap.pb.gz" heap --count "$COUNT"
