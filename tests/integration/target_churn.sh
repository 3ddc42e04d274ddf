#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Thousands of short-lived processes of a binary without a build ID under
# --all: every one is opened for symbols (sampled at 999 Hz while it spins
# ~6 ms) and must be released once it is reaped. Before the fix every
# exited process kept an fd (778 after 800 processes): 1500 more processes
# meant 1500 more fds. Under --all every other process of the host is
# opened too and the fd count moves with them, so each measure is the
# lowest of several seconds, after a warm-up in which the host's processes
# are opened: between a first batch of 300 and the end of 1500 more it may
# not grow by more than 300 (the host's own churn; a leak gives 1500). The profiler's anonymous RSS
# may grow by at most 384 MiB, 256 KiB per exited process: what the
# profile keeps of each (its stacks, their per-process symbol entries) and
# what the allocator keeps of freed sessions (measured 60-110 KiB here,
# with the rest of the host's activity); one leaked target alone holds
# more than 1 MiB (its libdwfl session of exe, libc and ld.so). At least half
# of the churn processes' samples must have complete, symbolized stacks.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
# shellcheck source=../lib/churn.sh
. "$(dirname "$0")/../lib/churn.sh"
build_churn
fds() { ls "/proc/$MEMTEL_PID/fd" | wc -l; }
# RssAnon: the profiler's own heap. VmRSS also counts the pages of the
# file copies every open target maps, which move with whatever else runs
# on the host under --all.
rss_kib() { awk '/^RssAnon/ {print $2}' "/proc/$MEMTEL_PID/status"; }

start_memtel "$W/m" --all --no-heap -F 999 --duration 300 -o "$W/prof"
# lowest fd count and its RSS over N seconds (targets are closed once found
# gone at two reap passes, a second apart)
low() {
	local i f r
	LOW_F=999999 LOW_R=0
	for ((i = 0; i < $1; i++)); do
		sleep 1
		f=$(fds) r=$(rss_kib)
		log "  $f fds, anonymous RSS $r KiB"
		[ "$f" -lt "$LOW_F" ] && LOW_F=$f LOW_R=$r
	done
}
low 5
churn_batch 300
low 6
f1=$LOW_F r1=$LOW_R
log "after 300 processes: $f1 fds, RSS $r1 KiB"
churn_batch 1500
low 10
f2=$LOW_F r2=$(rss_kib)
log "after 1800 processes: $f2 fds, RSS $r2 KiB"
kill -INT "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 60 || fail "memtel-bpf did not stop on SIGINT"
assert_exit 0
assert_no_sanitizer "$W/m.err"
[ $((f2 - f1)) -le 300 ] || fail "fds grew from $f1 to $f2 over 1500 exited processes"
[ $((r2 - r1)) -le $((384 * 1024)) ] || fail "anonymous RSS grew from $r1 to $r2 KiB over 1500 exited processes"
# Samples of the churn processes: complete stacks (from _start), named
# but cut short (a library not read), and raw addresses (the process was
# gone before it was read), these found by churn_spin_site's offset in
# its page (PIE bases are page-aligned). Before the profiler was woken by
# a new process's first samples, three in four were raw.
read -r lo sz < <(nm -S "$W/churn" | awk '$4 == "churn_spin_site" {print $1, $2}')
read -r full cut raw < <(awk -v lo=$((16#$lo & 0xfff)) -v hi=$(((16#$lo + 16#$sz) & 0xfff)) '
	/churn_spin_site/ { if ($1 ~ /^_start;/) f += $NF; else c += $NF; next }
	/^0x[0-9a-f]+ [0-9]+$/ {
		o = 0
		for (i = length($1) - 2; i <= length($1); i++)
			o = o * 16 + index("0123456789abcdef", substr($1, i, 1)) - 1
		if (o >= lo && o < hi) r += $NF
	}
	END { print f + 0, c + 0, r + 0 }' "$W/prof/cpu.folded")
log "churn samples: $full complete, $cut cut short, $raw raw addresses"
[ "$full" -ge 100 ] || fail "only $full samples of the churn processes have complete stacks"
[ $((full * 2)) -ge $((full + cut + raw)) ] ||
	fail "only $full of $((full + cut + raw)) churn samples have complete stacks"
exit 0
