#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-bpf agent's usage errors exit 2 with one line naming the problem,
# before anything is loaded: an unknown flag, an unknown or bad key in the
# --config file (its path and line named), a config file that is missing
# or too large, a bad --listen address, bad --heap-target selectors (an
# unknown kind, an empty or overlong value, a value its kind cannot hold,
# too many; on the command line and in the file), --max-overhead and
# --max-heap-targets out of range; --help exits 0.
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
printf 'freq = 49\n# fine so far\npid = 1\n' >"$W/a.conf"
expect_usage key "$W/a.conf:3: unknown option 'pid'" --config "$W/a.conf"
printf 'listen=nowhere\n' >"$W/b.conf"
expect_usage value "$W/b.conf:1: invalid listen address 'nowhere'" --config "$W/b.conf"
printf 'just words\n' >"$W/c.conf"
expect_usage syntax "$W/c.conf:1: want key=value" --config "$W/c.conf"
expect_usage missing "cannot read config file $W/none.conf" --config "$W/none.conf"
head -c 70000 /dev/zero | tr '\0' '#' >"$W/big.conf"
expect_usage big "config file $W/big.conf is larger than" --config "$W/big.conf"
expect_usage listen "invalid listen address '1.2.3.4'" --listen 1.2.3.4
expect_usage sel_kind "unknown heap target kind 'name'" --heap-target name=nginx
expect_usage sel_form "invalid heap target 'nginx': want KIND=VALUE" --heap-target nginx
expect_usage sel_empty "empty heap target value for comm=" --heap-target comm=
expect_usage sel_comm "heap target comm= value too long \\(at most 15 bytes\\)" \
	--heap-target comm=0123456789abcdef
expect_usage sel_long "heap target cgroup= value too long" \
	--heap-target "cgroup=/$(head -c 5000 /dev/zero | tr '\0' a)"
expect_usage sel_rel "heap target exe= wants an absolute path" --heap-target exe=nginx
expect_usage sel_cid "heap target container= wants lowercase hex" --heap-target container=XYZ
many=()
for ((i = 0; i < 33; i++)); do many+=(--heap-target "comm=w$i"); done
expect_usage sel_many "too many heap targets \\(at most 32\\)" "${many[@]}"
expect_usage max_ht "invalid max-heap-targets '0': want 1..1024" --max-heap-targets 0
expect_usage max_ht2 "invalid max-heap-targets '1025'" --max-heap-targets 1025
expect_usage max_ovh "invalid max-overhead '101': want a percentage in 0..100 \\(0 = unlimited\\)" --max-overhead 101
printf 'max-overhead = 5%%\n' >"$W/e.conf"
expect_usage max_ovh_conf "$W/e.conf:1: invalid max-overhead '5%'" --config "$W/e.conf"
printf 'heap-target = comm=redis-server\nheap-target = pod=\n' >"$W/d.conf"
expect_usage sel_conf "$W/d.conf:2: empty heap target value for pod=" --config "$W/d.conf"
run_memtel "$W/help" 10 agent --help
assert_exit 0 "agent --help"
grep -q -- '--config FILE' "$W/help.out" || fail "--help does not list --config"
grep -q -- '--heap-target KIND=VALUE' "$W/help.out" || fail "--help does not list --heap-target"
grep -q -- '--max-overhead PCT' "$W/help.out" || fail "--help does not list --max-overhead"
echo "PASS"
