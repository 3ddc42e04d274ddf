#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# DEBUGINFOD_URLS set (the default on several distributions) must not make
# the profiler contact debuginfod: with it pointing at a server that
# accepts connections and never answers, a 3 s session attaches and ends
# on time, and the server sees no connection at all.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

# A listener that counts connections and never answers.
python3 - "$W/port" "$W/conns" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
held, n = [], 0
s.settimeout(0.2)
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept()
        held.append(c)
        n += 1
        open(sys.argv[2], "w").write(str(n))
    except socket.timeout:
        pass
PY
BG_PIDS+=($!)
for _ in $(seq 50); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || fail "listener did not start"
port=$(cat "$W/port")

start=$(date +%s)
DEBUGINFOD_URLS=http://127.0.0.1:$port DEBUGINFOD_TIMEOUT=300 \
	run_memtel "$W/m" 60 --duration 3 --sample-bytes 4096 -o "$W/prof" \
	-- "$MEMTEL_WL_DIR/leaker" --seconds 5
took=$(($(date +%s) - start))
assert_exit 0
assert_no_sanitizer "$W/m.err"
assert_file "$W/prof/heap.pb.gz"
log "session took ${took}s"
[ "$took" -le 15 ] || fail "a 3 s session took ${took}s with an unresponsive debuginfod"
[ ! -s "$W/conns" ] || fail "debuginfod was contacted without --debuginfod ($(cat "$W/conns") connections)"
exit 0
