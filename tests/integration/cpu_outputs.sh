#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The CPU output files agree with each other: cpu.svg is well-formed XML
# naming the hot functions (leaf_three, leaf_one); cpu.folded is
# flamegraph.pl's format (root first, `;`-separated, a count last) and sums
# exactly to the summary's `CPU: N samples` and to cpu.pb.gz's total, with
# the same self counts for the hot leaves. With heap profiling on (the
# default) heap.svg is written and well-formed too. cpu.svg hovers, zooms
# and searches in headless chromium (tools/check-svg-render.sh --check).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

CPUSPLIT=$MEMTEL_WL_DIR/cpusplit
[ -x "$CPUSPLIT" ] || fail "workloads not built: $CPUSPLIT (make workloads)"

run_memtel "$W/memtel" 90 -o "$W/prof" -- "$CPUSPLIT" --seconds 3
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
n=$(sed -n 's/^CPU: \([0-9][0-9]*\) samples at 99 Hz.*/\1/p' "$W/memtel.out")
[ -n "$n" ] || fail "no 'CPU: N samples at 99 Hz' line in the summary"
log "summary: $n samples"
for f in cpu.pb.gz cpu.folded cpu.svg heap.pb.gz heap.svg; do
	assert_file "$W/prof/$f"
done

python3 - "$MEMTEL_ROOT/tests/lib" "$W/prof" "$n" >"$W/check.txt" 2>&1 <<'EOF'
import re, sys, xml.dom.minidom
sys.path.insert(0, sys.argv[1])
import pprof_raw

d, n = sys.argv[2], int(sys.argv[3])
hot = ("leaf_three", "leaf_one")
errors = []

# cpu.folded
folded, fself = 0, {}
with open(d + "/cpu.folded") as f:
    for i, line in enumerate(f, 1):
        m = re.fullmatch(r"(\S.*) ([1-9]\d*)\n", line)
        if not m:
            errors.append("cpu.folded:%d: not 'frame;frame;... COUNT': %r"
                          % (i, line))
            continue
        frames = m.group(1).split(";")
        if "" in frames:
            errors.append("cpu.folded:%d: empty frame: %r" % (i, line))
        count = int(m.group(2))
        folded += count
        fself[frames[-1]] = fself.get(frames[-1], 0) + count
        for leaf in hot:
            if leaf in frames:
                # root first: main, then worker, then the leaf
                idx = [frames.index(x) if x in frames else -1
                       for x in ("main", "worker", leaf)]
                if not (0 <= idx[0] < idx[1] < idx[2]):
                    errors.append("cpu.folded:%d: expected main;...;worker;"
                                  "%s (root first): %r" % (i, leaf, line))
print("cpu.folded: %d samples; self %s" % (folded, {h: fself.get(h, 0) for h in hot}))
if folded != n:
    errors.append("cpu.folded sums to %d, the summary says %d" % (folded, n))

# cpu.pb.gz
p = pprof_raw.load(d + "/cpu.pb.gz")
total = sum(v[0] for v, _, _ in p.samples)
pself = {}
for vals, frames in p.stacks():
    if frames:
        pself[frames[0]] = pself.get(frames[0], 0) + vals[0]
print("cpu.pb.gz: %d samples; self %s" % (total, {h: pself.get(h, 0) for h in hot}))
if total != n:
    errors.append("cpu.pb.gz has %d samples, the summary says %d" % (total, n))
for h in hot:
    if not fself.get(h):
        errors.append("%s has no self samples in cpu.folded" % h)
    if fself.get(h, 0) != pself.get(h, 0):
        errors.append("%s: %d self samples in cpu.folded, %d in cpu.pb.gz"
                      % (h, fself.get(h, 0), pself.get(h, 0)))

# the SVGs
def svg_text(path):
    try:
        doc = xml.dom.minidom.parse(path)
    except Exception as e:
        errors.append("%s is not well-formed XML: %s" % (path, e))
        return None
    if doc.documentElement.tagName != "svg":
        errors.append("%s: root element is <%s>, not <svg>"
                      % (path, doc.documentElement.tagName))
    out = []
    def walk(node):
        if node.nodeType in (node.TEXT_NODE, node.CDATA_SECTION_NODE):
            out.append(node.data)
        for c in node.childNodes:
            walk(c)
    walk(doc.documentElement)
    return " ".join(out)

text = svg_text(d + "/cpu.svg")
if text is not None:
    for h in hot:
        if not re.search(r"\b%s\b" % h, text):
            errors.append("cpu.svg does not name %s" % h)
svg_text(d + "/heap.svg")
print("cpu.svg and heap.svg parsed")
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
EOF
rc=$?
cat "$W/check.txt"
if [ "$rc" -ne 0 ]; then
	msg=$(grep -m1 '^FAIL: ' "$W/check.txt" | sed 's/^FAIL: //')
	fail "${msg:-reading the outputs back failed}"
fi
log "cpu.svg, cpu.folded, cpu.pb.gz and heap.svg agree"

# The viewer works in a real browser: hover, zoom and search.
command -v chromium >/dev/null 2>&1 || fail "chromium missing (tools/deps.sh installs it)"
v=$("$MEMTEL_ROOT/tools/check-svg-render.sh" --check "$W/prof/cpu.svg" 2>&1) ||
	fail "cpu.svg in chromium: $v"
log "cpu.svg: hover, zoom and search work in chromium"
