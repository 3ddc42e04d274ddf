#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The live status line. With stderr on a terminal (a pseudo-terminal here)
# a 3 s session shows the status line (elapsed time, processes, allocation
# calls, live bytes, CPU samples, drops) at least twice, rewritten in place,
# and it is erased before any other line is printed, so no line a user
# reads ends with it. With stderr on a file nothing of it appears.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_workloads

WL=$MEMTEL_WL_DIR/leaker

log "memtel-bpf -d 3 -- leaker (on a pseudo-terminal)"
python3 - "$W/tty.raw" "$MEMTEL_BIN" -d 3 --export-interval 1 \
	-o "$W/tty" -- "$WL" --seconds 30 >"$W/tty.check" 2>&1 <<'PY'
import os, pty, re, subprocess, sys

raw_path, cmd = sys.argv[1], sys.argv[2:]
master, slave = pty.openpty()
p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave,
                     stderr=slave, close_fds=True)
os.close(slave)
raw = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    raw += chunk
rc = p.wait(timeout=60)
open(raw_path, "wb").write(raw)
text = raw.decode("utf-8", "replace")
status = re.compile(r"memtel-bpf: \d+:\d\d:\d\d \| \d+ process(es)? \| "
                    r"alloc calls (\d+), sampled \d+ \| live [0-9.]+ [KMGT]?i?B"
                    r" \| CPU samples \d+ \| dropped \d+")
draws = [m for m in re.finditer(r"\r(memtel-bpf: [^\r\n]*?)\x1b\[K", text)
         if status.fullmatch(m.group(1))]
errors = []
print("exit %d, %d status draws" % (rc, len(draws)))
if rc != 0:
    errors.append("memtel-bpf exited %d" % rc)
if len(draws) < 2:
    errors.append("%d status line draws in a 3 s run, expected >= 2"
                  % len(draws))
elif len({d.group(1) for d in draws}) < 2:
    errors.append("the status line never changed: %r" % draws[0].group(1))
if draws and max(int(status.fullmatch(d.group(1)).group(2))
                 for d in draws) == 0:
    errors.append("the status line never counted an allocation call")
# what a terminal shows on each finished row: the text after the last \r
for row in text.split("\n"):
    shown = re.sub(r"\x1b\[K", "", row.rstrip("\r").split("\r")[-1])
    if "| dropped" in shown:
        errors.append("a row ends with the status line still on it: %r"
                      % row)
        break
if "events dropped:" not in text:
    errors.append("no summary")
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
PY
rc=$?
cat "$W/tty.check"
[ "$rc" -eq 0 ] || fail "$(grep -m1 '^FAIL: ' "$W/tty.check" | sed 's/^FAIL: //')"
log "status line drawn, refreshed and erased on a terminal"

run_memtel "$W/file" 60 -d 3 --export-interval 1 -o "$W/file" -- "$WL" --seconds 30
assert_exit 0
if grep -q $'\033\\[K\\|| dropped ' "$W/file.err" "$W/file.out"; then
	fail "status line text in a non-terminal run: $(grep -m1 '| dropped' "$W/file.err")"
fi
grep -q '^memtel-bpf: attached' "$W/file.err" || fail "no log lines on stderr"
log "no status line when stderr is not a terminal"
