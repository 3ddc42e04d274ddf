#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The CPU profile's main mapping. Viewers take the first mapping of a pprof
# file for the main binary; cpu_syscalls spends most of its time in the
# kernel, so the first location interned is a kernel one, yet mapping 1 of
# cpu.pb.gz (read straight from the protobuf, not through `go tool pprof`,
# which guesses the main binary itself) must be the workload's executable.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel

WL=$MEMTEL_WL_DIR/cpu_syscalls
[ -x "$WL" ] || fail "workloads not built: $WL (make workloads)"

run_memtel "$W/run" 60 --no-heap -o "$W/prof" -- "$WL" --seconds 2
assert_exit 0
assert_no_sanitizer "$W/run.err"
assert_file "$W/prof/cpu.pb.gz"

python3 - "$W/prof/cpu.pb.gz" "$(readlink -f "$WL")" >"$W/check.txt" 2>&1 <<'PY'
import gzip, sys

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if c < 0x80:
            return v, i

def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif wt == 1:
            v = b[i:i + 8]; i += 8
        elif wt == 5:
            v = b[i:i + 4]; i += 4
        else:
            raise SystemExit("bad wire type %d" % wt)
        yield num, v

data = gzip.open(sys.argv[1]).read()
maps, strs = [], []
for num, v in fields(data):
    if num == 3:
        m = dict(fields(v))
        maps.append((m.get(1, 0), m.get(5, 0)))
    elif num == 6:
        strs.append(v.decode())
names = [(i, strs[f]) for i, f in maps]
print("mappings in file order: %s" % names)
if not names:
    raise SystemExit("FAIL: no mappings")
if names[0] != (1, sys.argv[2]):
    raise SystemExit("FAIL: mapping 1 is %r, expected (1, %r)"
                     % (names[0], sys.argv[2]))
if not any(n == "[kernel.kallsyms]" for _, n in names):
    raise SystemExit("FAIL: no [kernel.kallsyms] mapping at all")
PY
rc=$?
cat "$W/check.txt"
[ "$rc" -eq 0 ] || fail "$(grep -m1 FAIL: "$W/check.txt" | sed "s/^FAIL: //")"
log "mapping 1 of cpu.pb.gz is the target's executable"
