#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A container runtime gives a stopping process 10 s between SIGTERM and
# SIGKILL. With a collector that accepts connections and never answers,
# memtel-bpf must still write every local file (profiles, flame graphs,
# leaks.txt) and exit within 5 s of SIGTERM: the files come before the
# final OTLP flush, and that flush has a deadline. (It used to flush
# first, for up to 10 s, and write the files after.)
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

# The black hole: accept, read, never answer, never close.
python3 - "$W/hole.port" >"$W/hole.out" 2>"$W/hole.err" <<'PY' &
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
def drain(c):
    while c.recv(65536):
        pass
while True:
    c, _ = s.accept()
    held.append(c)
    threading.Thread(target=drain, args=(c,), daemon=True).start()
PY
BG_PIDS+=($!)
for _ in $(seq 50); do [ -s "$W/hole.port" ] && break; sleep 0.1; done
[ -s "$W/hole.port" ] || fail "the listener did not start"
port=$(cat "$W/hole.port")
watch_log "$W/hole.err"

start_heapsites "$W/t" --hold
start_memtel "$W/m" --pid "$TARGET_PID" --sample-bytes 1 --export-interval 1 \
	-o "$W/prof" --otlp-endpoint "http://127.0.0.1:$port"
kill -USR1 "$TARGET_PID"
wait_for_line "$W/t.out" '^done$' 60 "$TARGET_PID" || fail "heapsites did not finish"
# a few windows queued and one request hanging on the collector
sleep 3
t0=$(date +%s%N)
kill -TERM "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 30 || fail "memtel-bpf still running 30 s after SIGTERM"
ms=$((($(date +%s%N) - t0) / 1000000))
log "stopped ${ms} ms after SIGTERM (exit $EXIT_CODE)"
assert_exit 0
assert_no_sanitizer "$W/m.err"
[ "$ms" -le 5000 ] || fail "stop took ${ms} ms after SIGTERM, want <= 5000 (10 s stop grace)"
assert_file "$W/prof/heap.pb.gz"
# cpu.folded is empty when the idle target was never on a CPU
for f in heap.pb.gz heap.svg leaks.txt cpu.pb.gz cpu.folded cpu.svg; do
	[ -f "$W/prof/$f" ] || fail "missing: $W/prof/$f"
	grep -q "output: .*$f" "$W/m.out" || fail "summary does not list $f"
done
grep -q 'OTLP' "$W/m.err" || fail "nothing on stderr about the undelivered exports"
alive "$TARGET_PID" || fail "target died"
kill -TERM "$TARGET_PID"
log "stop deadline ok"
