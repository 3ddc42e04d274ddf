#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A target with no allocator memtel-bpf recognises (a static -nostdlib
# binary: no libc, no malloc) is a runtime failure: exit 1, one error line.
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

run_memtel "$W/pid" 30 --pid "$SPIN_PID" -o "$W/prof-pid"
assert_exit 1
assert_no_sanitizer "$W/pid.err"
assert_error_line "$W/pid.err" 'alloc'
alive "$SPIN_PID" || fail "the target died"

run_memtel "$W/launch" 30 -o "$W/prof-launch" -- "$W/spin"
assert_exit 1
assert_no_sanitizer "$W/launch.err"
assert_error_line "$W/launch.err" 'alloc'
log "no-allocator errors ok"
