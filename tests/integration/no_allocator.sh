#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A target with no allocator memtel-bpf recognises (a static -nostdlib
# binary: no libc, no malloc, not Go) still gets its CPU profile and memory
# metrics: one warning line naming the missing allocator, exit 0.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel

# Sleeps 100 ms at a time with raw syscalls, exits by itself after ~20 s so
# nothing outlives the test even if memtel-bpf leaves a launched one behind.
cat >"$W/spin.c" <<'SRC'
struct ts { long sec, nsec; };
static const struct ts tick = { 0, 100000000 };

static long sys2(long nr, long a, long b)
{
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "0"(nr), "D"(a), "S"(b)
			 : "rcx", "r11", "memory");
	return ret;
}

void _start(void)
{
	for (int i = 0; i < 200; i++)
		sys2(35 /* nanosleep */, (long)&tick, 0);
	sys2(60 /* exit */, 0, 0);
	for (;;)
		;
}
SRC
${CC:-cc} -static -nostdlib -O1 -fno-stack-protector -fno-pie -no-pie \
	-o "$W/spin" "$W/spin.c" || fail "cannot build a static -nostdlib binary"

watch_log "$W/spin.out" "$W/spin.err"
spawn "$W/spin.out" "$W/spin.err" "$W/spin"
SPIN_PID=$SPAWN_PID
sleep 0.2
alive "$SPIN_PID" || fail "spin did not start"

# warning_line ERRFILE: exactly one warning, and it names the allocator
warning_line() {
	local n
	n=$(grep -c '^memtel-bpf: warning' "$1")
	assert_eq "warning lines in $1" 1 "$n"
	grep '^memtel-bpf: warning' "$1" | grep -qi 'no recognised allocator' ||
		fail "the warning does not name the missing allocator"
	grep -q '^memtel-bpf: error' "$1" && fail "an error line in $1"
	return 0
}

run_memtel "$W/pid" 30 --pid "$SPIN_PID" --duration 1 -o "$W/prof-pid"
assert_exit 0
assert_no_sanitizer "$W/pid.err"
warning_line "$W/pid.err"
assert_file "$W/prof-pid/cpu.pb.gz"
assert_file "$W/prof-pid/metrics.jsonl"
alive "$SPIN_PID" || fail "the target died"

run_memtel "$W/launch" 60 -o "$W/prof-launch" -- "$W/spin"
assert_exit 0
assert_no_sanitizer "$W/launch.err"
warning_line "$W/launch.err"
assert_file "$W/prof-launch/cpu.pb.gz"
log "no-allocator warning ok"
