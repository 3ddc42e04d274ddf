#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A target's /tmp/perf-PID.map is the target's to plant. For a JIT loop
# announced by no real map (jitspin --no-map), the test plants:
# - a symlink to a root-owned file whose text is a valid perf map naming
#   the loop "host_secret_name": a link is never followed, so the name must
#   not appear in the profile;
# - a FIFO nobody writes: the session still ends at --duration, and a
#   second session still stops on SIGINT;
# - /dev/zero's device node: no endless read, the session ends on time;
# - a 1 GiB sparse file starting with a valid line: over the 64 MiB bound
#   it is not read at all (the name must not appear), and ends on time.
# A well-formed map owned by another (non-root) user is refused too.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

JITSPIN=$MEMTEL_WL_DIR/jitspin

require_bpf
require_memtel
[ -x "$JITSPIN" ] || fail "workloads not built: $JITSPIN"

PLANTED=()
cleanup_planted() { rm -f "${PLANTED[@]}"; }
CLEANUP_HOOK=cleanup_planted

# start_jit NAME: jitspin --no-map; sets JPID, JADDR and MAP.
start_jit() {
	watch_log "$W/$1.jit.out" "$W/$1.jit.err"
	spawn "$W/$1.jit.out" "$W/$1.jit.err" "$JITSPIN" --no-map --seconds 60
	JPID=$SPAWN_PID
	wait_for_line "$W/$1.jit.out" '^ready [0-9]+ [0-9a-f]+$' 10 "$JPID" ||
		fail "jitspin did not start"
	JADDR=$(awk '{print $3}' "$W/$1.jit.out")
	MAP=/tmp/perf-$JPID.map
	rm -f "$MAP"
	PLANTED+=("$MAP")
}

# profile NAME: a 2 s CPU session of JPID that must end within 20 s.
profile() {
	run_memtel "$W/$1" 20 --pid "$JPID" --no-heap --duration 2 -o "$W/$1.prof"
	assert_exit 0 "memtel-bpf ($1)"
	assert_no_sanitizer "$W/$1.err"
	assert_file "$W/$1.prof/cpu.folded"
}

stop_jit() { kill "$JPID" 2>/dev/null; wait "$JPID" 2>/dev/null; }

# 1. symlink to a host file
printf '%x 9 host_secret_name\n' 0 >"$W/secret"
start_jit link
printf '%s 9 host_secret_name\n' "$JADDR" >"$W/secret"
ln -s "$W/secret" "$MAP"
profile link
grep -q host_secret_name "$W/link.prof/cpu.folded" &&
	fail "a symlinked perf map was followed: host_secret_name is in the profile"
stop_jit

# 2. a FIFO: --duration, then SIGINT
start_jit fifo
mkfifo "$MAP" || fail "mkfifo"
profile fifo
start_memtel "$W/fifo2" --pid "$JPID" --no-heap --duration 120 -o "$W/fifo2.prof"
sleep 3
kill -INT "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 15 || fail "memtel-bpf ignored SIGINT with a FIFO as perf map"
assert_exit 0 "memtel-bpf (fifo, SIGINT)"
stop_jit

# 3. /dev/zero's device node
start_jit zero
mknod "$MAP" c 1 5 || fail "mknod"
profile zero
stop_jit

# 4. a huge file
start_jit huge
printf '%s 9 huge_map_name\n' "$JADDR" >"$MAP"
truncate -s 1G "$MAP" || fail "truncate"
profile huge
grep -q huge_map_name "$W/huge.prof/cpu.folded" &&
	fail "a 1 GiB perf map was read (huge_map_name is in the profile)"
stop_jit

# 5. a well-formed map owned by someone else
start_jit owner
printf '%s 9 other_user_name\n' "$JADDR" >"$MAP"
chown 65534:65534 "$MAP" || fail "chown"
profile owner
grep -q other_user_name "$W/owner.prof/cpu.folded" &&
	fail "a perf map owned by another user was believed"
stop_jit

# and the control: the same map owned by root names the loop
start_jit good
printf '%s 9 good_map_name\n' "$JADDR" >"$MAP"
profile good
grep -q good_map_name "$W/good.prof/cpu.folded" ||
	fail "a well-formed perf map did not name the loop: $(head -c 300 "$W/good.prof/cpu.folded")"
stop_jit
exit 0
