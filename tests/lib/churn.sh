# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
# churn.sh - short-lived processes for the churn tests, sourced after
# common.sh: build_churn compiles $W/churn (no build ID, so every process
# is opened by file identity; spins ~6 ms in churn_spin_site, so a 999 Hz
# sampler catches it), churn_batch N runs N of them, two at a time.

build_churn() {
	command -v cc >/dev/null || fail "no C compiler"
	cat >"$W/churn.c" <<'C'
#include <time.h>
volatile unsigned long sink;
__attribute__((noinline)) void churn_spin_site(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		for (int i = 0; i < 10000; i++)
			sink += i;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 6000000L);
}
int main(void) { churn_spin_site(); return 0; }
C
	cc -O1 -g -Wl,--build-id=none -o "$W/churn" "$W/churn.c" || fail "cc"
	readelf -n "$W/churn" | grep -q 'Build ID' && fail "churn has a build ID"
}

churn_batch() { # N
	local i p
	for ((i = 0; i < $1 / 2; i++)); do
		"$W/churn" &
		p=$!
		"$W/churn"
		wait "$p"
	done
}
