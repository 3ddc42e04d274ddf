#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Without privileges memtel-bpf exits 1 with one error line that names the
# capabilities it needs (CAP_BPF and CAP_PERFMON). Run as nobody via setpriv
# (or runuser) when we are root; as ourselves when we hold no capabilities.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_memtel
require_workloads

if [ "$(id -u)" -eq 0 ]; then
	if command -v setpriv >/dev/null; then
		AS_NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --)
	elif command -v runuser >/dev/null; then
		AS_NOBODY=(runuser -u nobody --)
	else
		skip "neither setpriv nor runuser to drop root"
	fi
else
	capeff=$(sed -n 's/^CapEff:\s*//p' /proc/self/status)
	[ "$((16#$capeff))" -eq 0 ] || skip "running with capabilities $capeff"
	AS_NOBODY=()
fi

# Everything the unprivileged user runs or writes lives in a world-readable
# directory of its own: the repo and $TMPDIR may not be reachable for it.
N=$(mktemp -d /tmp/memtel-nopriv.XXXXXX) || fail "mktemp"
cleanup_n() { rm -rf "$N"; }
CLEANUP_HOOK=cleanup_n
cp "$MEMTEL_BIN" "$N/memtel-bpf"
cp "$HEAPSITES" "$MEMTEL_WL_DIR"/lib*.so "$N/"
mkdir "$N/out"
chmod 755 "$N" "$N/memtel-bpf" "$N/heapsites"
chmod 1777 "$N/out"

check_eperm() { # NAME
	local name=$1
	wait_exit "$SPAWN_PID" 60 || fail "$name: memtel-bpf did not exit within 60s"
	assert_exit 1 "$name: memtel-bpf"
	assert_no_sanitizer "$N/memtel.err"
	assert_error_line "$N/memtel.err" 'CAP_BPF'
	grep -q 'CAP_PERFMON' "$N/memtel.err" || fail "$name: message does not name CAP_PERFMON"
	cp "$N/memtel.out" "$W/$name.out"
	cp "$N/memtel.err" "$W/$name.err"
}

# --pid of a process the unprivileged user owns.
watch_log "$W/target.out" "$W/target.err" "$N/memtel.out" "$N/memtel.err"
spawn "$W/target.out" "$W/target.err" ${AS_NOBODY[@]+"${AS_NOBODY[@]}"} "$N/heapsites" --wait-signal --hold
wait_for_line "$W/target.out" '^ready [0-9]+$' 10 "$SPAWN_PID" || fail "heapsites did not start"
# runuser may stay in between as parent: take the pid heapsites reports.
TARGET_PID=$(sed -n 's/^ready //p' "$W/target.out")
log "unprivileged: memtel-bpf --pid $TARGET_PID"
spawn "$N/memtel.out" "$N/memtel.err" ${AS_NOBODY[@]+"${AS_NOBODY[@]}"} "$N/memtel-bpf" \
	--pid "$TARGET_PID" -o "$N/out/pid"
check_eperm pid
alive "$TARGET_PID" || fail "pid: the target died"

# Launch mode.
log "memtel-bpf -- heapsites"
spawn "$N/memtel.out" "$N/memtel.err" ${AS_NOBODY[@]+"${AS_NOBODY[@]}"} "$N/memtel-bpf" \
	-o "$N/out/launch" -- "$N/heapsites"
check_eperm launch
log "no-permission errors ok"
