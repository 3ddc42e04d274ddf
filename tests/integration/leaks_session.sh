#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Leaks over the session. leaker leaks 64 KiB every 50 ms (a critical
# growth rate) for 5 s, one export window a second, then frees everything
# before it exits. leaks.txt is there while it runs, already naming the
# suspect; at the end the summary and leaks.txt still name leak_steady
# with its peak severity, marked "freed at exit" - not "leak suspects:
# none" because the program cleaned up.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

LEAKER=$MEMTEL_WL_DIR/leaker
D=$W/prof

watch_log "$W/run.out" "$W/run.err"
log "memtel-bpf --export-interval 1 --leak-age 1 -- leaker --seconds 5 --free-at-exit &"
spawn "$W/run.out" "$W/run.err" "$MEMTEL_BIN" --no-cpu --sample-bytes 1 \
	--export-interval 1 --leak-age 1 -o "$D" -- "$LEAKER" --seconds 5 \
	--free-at-exit
pid=$SPAWN_PID

# mid-run: leaks.txt exists and already names the suspect
wait_for_line "$D/leaks.txt" '^  \[critical\] leak_steady: .*, still live$' 10 "$pid" ||
	fail "no leaks.txt naming leak_steady while the target runs: $(cat "$D/leaks.txt" 2>/dev/null)"
alive "$pid" || fail "memtel-bpf had already exited: leaks.txt was not checked mid-run"
log "mid-run: $(grep -m1 leak_steady "$D/leaks.txt")"

wait_exit "$pid" 60 || fail "memtel-bpf did not exit"
assert_exit 0
assert_no_sanitizer "$W/run.err"
grep -q '^freed them$' "$W/run.out" || fail "leaker did not free its blocks at exit"

re='^  \[critical\] leak_steady: [0-9]+ bytes live in [0-9]+ blocks, growing [0-9.]+ MB/h, oldest [0-9]+ s, freed at exit$'
grep -Eq "$re" "$W/run.out" ||
	fail "the summary does not name leak_steady as a critical suspect freed at exit: $(grep -A2 '^leak suspects' "$W/run.out")"
grep -q '^leak suspects: none' "$W/run.out" && fail "the summary says 'leak suspects: none'"
assert_file "$D/leaks.txt"
grep -Eq "$re" "$D/leaks.txt" ||
	fail "the final leaks.txt does not name leak_steady freed at exit: $(head -3 "$D/leaks.txt")"
grep -A1 'leak_steady: ' "$D/leaks.txt" | grep -q '^      leak_steady ' ||
	fail "leaks.txt has no stack under the suspect"
log "end: $(grep -m1 leak_steady "$W/run.out")"
