#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-bpf agent's usage errors exit 2 with one line naming the problem,
# before anything is loaded: an unknown flag, an unknown or bad key in the
# --config file (its path and line named), a config file that is missing
# or too large, a bad --listen address; --help exits 0.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_memtel

expect_usage() { # NAME ERE ARG...
	local name=$1 re=$2
	shift 2
	run_memtel "$W/$name" 10 agent "$@"
	assert_exit 2 "agent $*"
	grep -Eq -- "^memtel-bpf agent: $re" "$W/$name.err" ||
		fail "agent $*: stderr does not say /$re/: $(cat "$W/$name.err")"
	[ "$(wc -l <"$W/$name.err")" = 1 ] || fail "agent $*: more than one line on stderr"
}

expect_usage flag "unknown option '--pid'" --pid 1
printf 'freq = 49\n# fine so far\nheap-target = exe=/bin/true\n' >"$W/a.conf"
expect_usage key "$W/a.conf:3: unknown option 'heap-target'" --config "$W/a.conf"
printf 'listen=nowhere\n' >"$W/b.conf"
expect_usage value "$W/b.conf:1: invalid listen address 'nowhere'" --config "$W/b.conf"
printf 'just words\n' >"$W/c.conf"
expect_usage syntax "$W/c.conf:1: want key=value" --config "$W/c.conf"
expect_usage missing "cannot read config file $W/none.conf" --config "$W/none.conf"
head -c 70000 /dev/zero | tr '\0' '#' >"$W/big.conf"
expect_usage big "config file $W/big.conf is larger than" --config "$W/big.conf"
expect_usage listen "invalid listen address '1.2.3.4'" --listen 1.2.3.4
run_memtel "$W/help" 10 agent --help
assert_exit 0 "agent --help"
grep -q -- '--config FILE' "$W/help.out" || fail "--help does not list --config"
echo "PASS"
