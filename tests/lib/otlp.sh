# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# shellcheck shell=bash
# otlp.sh - helpers for tests/integration/metrics_*.sh, sourced after
# common.sh: the leaker workload, the scriptable OTLP/HTTP receiver
# (otlp_receiver.py) and Python checks that read what memtel-bpf sent
# with otlp_wire.py (an independent protobuf and OTLP/JSON reader).

OTLP_LIB=$MEMTEL_ROOT/tests/lib
OTLP_RECEIVER=$OTLP_LIB/otlp_receiver.py
LEAKER=$MEMTEL_WL_DIR/leaker

# The environment must not steer the profiler: every OTEL_* variable goes.
for _v in $(compgen -v OTEL_); do unset "$_v"; done
unset _v

require_leaker() {
	[ -x "$LEAKER" ] || fail "workloads not built: $LEAKER (make workloads)"
}

# start_receiver NAME ARG...: otlp_receiver.py serve $W/NAME ARG... in the
# background; sets RECV_DIR, RECV_PORT and RECV_PID.
start_receiver() {
	local name=$1 i
	shift
	RECV_DIR=$W/$name
	mkdir -p "$RECV_DIR"
	watch_log "$RECV_DIR/receiver.err"
	spawn "$RECV_DIR/receiver.out" "$RECV_DIR/receiver.err" \
		python3 "$OTLP_RECEIVER" serve "$RECV_DIR" --lifetime 240 "$@"
	RECV_PID=$SPAWN_PID
	for ((i = 0; i < 100; i++)); do
		[ -s "$RECV_DIR/port" ] && break
		alive "$RECV_PID" || fail "the OTLP receiver exited: $(cat "$RECV_DIR/receiver.err")"
		sleep 0.1
	done
	[ -s "$RECV_DIR/port" ] || fail "the OTLP receiver did not start listening"
	RECV_PORT=$(cat "$RECV_DIR/port")
	log "OTLP receiver $name on 127.0.0.1:$RECV_PORT${*:+ ($*)}"
}

# receiver_count DIR [PATH]: requests recorded (to PATH only, if given).
receiver_count() {
	local f=$1/requests.jsonl
	[ -e "$f" ] || { echo 0; return; }
	if [ -n "${2:-}" ]; then
		grep -v '"event": "answered"' "$f" | grep -cF "\"path\": \"$2\""
	else
		grep -vc '"event": "answered"' "$f"
	fi
}

# A loopback port nothing listens on: connections to it are refused.
free_port() {
	python3 "$OTLP_RECEIVER" freeport
}

# start_leaker PREFIX ARG...: leaker --wait-signal ARG..., waiting for its
# "ready PID" line; sets TARGET_PID. SIGUSR1 starts the leaking.
start_leaker() {
	local prefix=$1
	shift
	watch_log "$prefix.out" "$prefix.err"
	spawn "$prefix.out" "$prefix.err" "$LEAKER" --wait-signal "$@"
	TARGET_PID=$SPAWN_PID
	wait_for_line "$prefix.out" '^ready [0-9]+$' 10 "$TARGET_PID" ||
		fail "leaker did not start"
}

# otlp_stats OUTFILE: "SENT FAILED RETRIED DROPPED" from the summary line
# "OTLP [metrics ]export: N sent, N failed, N retried, N dropped"; nothing
# when there is no such line.
otlp_stats() {
	sed -nE 's/^OTLP (metrics )?export: ([0-9]+) sent, ([0-9]+) failed, ([0-9]+) retried, ([0-9]+) dropped.*/\2 \3 \4 \5/p' "$1" | head -n 1
}

# check_leaker_run NAME: what every fault case checks of a run on the
# leaker with -o $W/NAME.prof: exit 0, no sanitizer report, the leaker
# finished, the local files written, and a summary line; sets STATS
# ("SENT FAILED RETRIED DROPPED").
check_leaker_run() {
	local name=$1
	assert_exit 0 "$name: memtel-bpf"
	assert_no_sanitizer "$W/$name.err"
	grep -q '^leaked [0-9]* blocks' "$W/$name.out" || fail "$name: the leaker did not finish"
	assert_file "$W/$name.prof/heap.pb.gz"
	assert_file "$W/$name.prof/leaks.txt"
	STATS=$(otlp_stats "$W/$name.out")
	[ -n "$STATS" ] || fail "$name: no 'OTLP export: N sent, ...' line in the summary"
}

# pycheck NAME ARG... <<'EOF' ... EOF: run the Python on stdin with
# otlp_wire importable and ARG... as sys.argv[1:]; its output goes to the
# log, and the first 'FAIL: ' line it prints fails the test.
pycheck() {
	local name=$1 out rc msg
	shift
	out=$W/check-$name.txt
	PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$OTLP_LIB${PYTHONPATH:+:$PYTHONPATH} \
		python3 - "$@" >"$out" 2>&1
	rc=$?
	sed 's/^/# /' "$out"
	if [ "$rc" -ne 0 ]; then
		msg=$(grep -m1 '^FAIL: ' "$out" | sed 's/^FAIL: //')
		fail "${msg:-$name check failed: $(tail -n 1 "$out")}"
	fi
}
