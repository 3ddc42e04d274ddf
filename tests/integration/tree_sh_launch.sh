#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A launch through wrappers profiles the program they run: `-- sh -c
# 'forker ...; true'` (the shell forks, the child execs forker) and `-- env
# X=1 forker` (exec in place), also with LD_PRELOAD=jemalloc (the exec'd
# image binds another allocator). forker's allocations are counted exactly
# under its own pid, and the summary names forker, not the wrapper (and
# says how many processes the tree had). At
# --duration every process of the launched tree is stopped.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads
require_go

check_named() { # NAME: the summary names forker; returns its pid
	local pid
	pid=$(sed -n 's/^memtel-bpf: pid \([0-9]*\) (\(.*\)), .*/\1 \2/p' "$W/$1.out")
	case "$pid" in
	*" $FORKER") ;;
	*) fail "$1: the summary names '${pid:-nothing}', not $FORKER" ;;
	esac
	NAMED_PID=${pid%% *}
}

run_memtel "$W/sh" 60 --sample-bytes 1 -o "$W/sh-prof" -- sh -c "\"$FORKER\" --children 0; true"
assert_exit 0
assert_no_sanitizer "$W/sh.err"
grep -q '^done$' "$W/sh.out" || fail "forker did not run under sh"
check_named sh
# named after forker, but the shell was profiled too: the header says so
grep -q '^memtel-bpf: pid [0-9]* (.*), .* (2 processes profiled)$' "$W/sh.out" ||
	fail "sh: the summary does not say two processes were profiled: $(grep '^memtel-bpf: pid' "$W/sh.out")"
shell=$(sed -n 's/^memtel-bpf: attached [0-9]* heap probes .* in pid \([0-9]*\) .*/\1/p' "$W/sh.err" | head -n 1)
[ "$shell" != "$NAMED_PID" ] || fail "sh exec'd forker itself: this test wants a fork first"
assert_no_drops "$W/sh.out"
assert_site "$W/sh-prof/heap.pb.gz" "$NAMED_PID" parent_site "10 30000 10 30000"

run_memtel "$W/env" 60 --sample-bytes 1 -o "$W/env-prof" -- env MEMTEL_TEST=1 "$FORKER" --children 0
assert_exit 0
assert_no_sanitizer "$W/env.err"
check_named env
assert_no_drops "$W/env.out"
assert_site "$W/env-prof/heap.pb.gz" "$NAMED_PID" parent_site "10 30000 10 30000"

# `-- env LD_PRELOAD=jemalloc prog`: the exec'd image binds another
# allocator than its wrapper; its probes move to jemalloc (counted once)
JE=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null) || fail "libjemalloc.so.2 missing (tools/deps.sh installs libjemalloc-dev)"
run_memtel "$W/je" 60 --sample-bytes 1 -o "$W/je-prof" -- env LD_PRELOAD="$JE" "$FORKER" --children 1
assert_exit 0
assert_no_sanitizer "$W/je.err"
check_named je
grep -Eq "^memtel-bpf: attached [0-9]+ heap probes to $JE .* in pid $NAMED_PID " "$W/je.err" ||
	fail "forker's probes did not move to $JE"
c0=$(sed -n 's/^child 0 \([0-9]*\)$/\1/p' "$W/je.out")
assert_no_drops "$W/je.out"
assert_site "$W/je-prof/heap.pb.gz" "$NAMED_PID" parent_site "10 30000 10 30000"
assert_site "$W/je-prof/heap.pb.gz" "$c0" child_site "20 20000 20 20000"

# --duration ends the whole tree: the shell and the child it waits for
run_memtel "$W/dur" 30 --duration 1 -o "$W/dur-prof" -- sh -c 'sleep 30 & echo "bg $!"; wait'
assert_exit 0
assert_no_sanitizer "$W/dur.err"
grep -q "duration reached" "$W/dur.out" || fail "the session did not end at --duration"
bg=$(sed -n 's/^bg \([0-9]*\)$/\1/p' "$W/dur.out")
[ -n "$bg" ] || fail "the shell's child pid was not printed"
grep -q "following pid $bg," "$W/dur.err" || fail "the shell's child $bg was not followed"
# a zombie until its new parent reaps it: gone or dead is what counts
alive "$bg" && fail "the shell's child $bg outlived the session"
exit 0
