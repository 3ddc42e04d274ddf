#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A build ID is only a claim a file makes about itself. Two different
# programs linked with the same forged build ID (--build-id=0x...) spin in
# alpha_spin_loop and in beta_spin_loop_here; under --all each must keep
# its own function names: symbols are keyed by build ID *and* file
# identity, so the one process cannot rename the other's functions.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
command -v cc >/dev/null || fail "no C compiler"

ID=0x$(printf 'feedface%.0s' 1 2 3 4 5)
build() { # NAME FUNC PAD
	cat >"$W/$1.c" <<C
#include <stdlib.h>
#include <time.h>
volatile unsigned long sink;
__attribute__((noinline)) void $2(void)
{
	for (unsigned long i = 0; i < 100000000UL; i++)
		sink += i;
}
int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 6);
	while (time(NULL) < end)
		$2();
	return 0;
}
C
	cc -O1 -g -o "$W/$1" "$W/$1.c" -Wl,--build-id="$ID" || fail "cc $1"
}
build alpha alpha_spin_loop
build beta beta_spin_loop_here
a_id=$(readelf -n "$W/alpha" | sed -n 's/^ *Build ID: *//p')
b_id=$(readelf -n "$W/beta" | sed -n 's/^ *Build ID: *//p')
[ -n "$a_id" ] && [ "$a_id" = "$b_id" ] || fail "build IDs not forged equal: '$a_id' '$b_id'"
cmp -s "$W/alpha" "$W/beta" && fail "the two programs are the same file"

spawn "$W/alpha.out" "$W/alpha.err" "$W/alpha" 8
spawn "$W/beta.out" "$W/beta.err" "$W/beta" 8
sleep 0.5
run_memtel "$W/m" 60 --all --no-heap --duration 3 -o "$W/prof"
assert_exit 0
assert_no_sanitizer "$W/m.err"
assert_file "$W/prof/cpu.folded"
grep -q 'alpha_spin_loop' "$W/prof/cpu.folded" || fail "alpha_spin_loop missing from cpu.folded"
grep -q 'beta_spin_loop_here' "$W/prof/cpu.folded" ||
	fail "beta_spin_loop_here missing: beta's frames were named from alpha's file ($(grep -c alpha_spin_loop "$W/prof/cpu.folded") alpha stacks)"
exit 0
