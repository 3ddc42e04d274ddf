#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Output on a full filesystem: a 64 KiB tmpfs as the output directory of a
# heap + CPU session, twice: one with 28 KiB left, where some files fit and
# the ones written last do not, and a 14 s one whose metrics.jsonl alone
# outgrows the disk. Each time:
#  - memtel-bpf exits 1;
#  - each file that did not fit is named by exactly one "cannot write
#    DIR/FILE: No space left on device" line, and no error line names no
#    file (the old "metrics window failed: ..." named none, and a failed
#    cpu.folded was reported as cpu.svg);
#  - a file that failed is absent from its final name, and every file
#    present is whole: metrics.jsonl only whole JSON lines, the pprof files
#    whole gzip, the SVGs well-formed XML, cpu.folded whole lines;
#  - no temporary file is left behind.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

outputs="metrics.jsonl leaks.txt heap.pb.gz heap.svg cpu.pb.gz cpu.folded cpu.svg"

# full_session NAME SECONDS INTERVAL FILL_KIB: the session on a fresh 64 KiB
# tmpfs with FILL_KIB taken by a filler file, and the checks above; sets
# FAILED and WRITTEN (how many files of each).
full_session() {
	local name=$1 secs=$2 interval=$3 fill=$4 out=$W/$1 f n bad left
	mkdir "$out"
	mount -t tmpfs -o size=64k,mode=0755 memtel-test "$out" ||
		fail "cannot mount a tmpfs on $out"
	MOUNTS+=("$out")
	[ "$fill" -gt 0 ] && head -c "$((fill * 1024))" /dev/zero >"$out/filler"
	run_memtel "$W/$name" 90 --sample-bytes 1 --export-interval "$interval" \
		--leak-age 1 -o "$out" -- "$LEAKER" --seconds "$secs"
	assert_exit 1 "$name: memtel-bpf on a full disk"
	assert_no_sanitizer "$W/$name.err"
	ls -la "$out" | sed 's/^/# /'
	FAILED=0
	WRITTEN=0
	for f in $outputs; do
		n=$(grep -c "^memtel-bpf: cannot write $out/$f: No space left on device" "$W/$name.err")
		if [ "$n" -gt 1 ]; then
			fail "$name: $n lines about $f, expected one"
		elif [ "$n" = 1 ]; then
			FAILED=$((FAILED + 1))
			log "$name: $f did not fit (one line names it)"
			# metrics.jsonl grows in place: it stays, cut to whole
			# lines; leaks.txt is rewritten every window: an earlier
			# window's whole file may stay, never a cut one
			case $f in
			metrics.jsonl) ;;
			leaks.txt)
				[ ! -e "$out/$f" ] || [ "$(tail -c 1 "$out/$f" | od -An -c | tr -d ' ')" = '\n' ] ||
					fail "$name: leaks.txt at its final name is cut short"
				;;
			*) assert_no_file "$out/$f" "its write failed" ;;
			esac
		else
			[ -f "$out/$f" ] || fail "$name: $f was neither written nor reported"
			WRITTEN=$((WRITTEN + 1))
		fi
	done
	# Every error line names a file of the output directory.
	bad=$(grep -v '^memtel-bpf: attach\|^memtel-bpf: stopping' "$W/$name.err" |
		grep -i 'error\|fail\|cannot\|no space' | grep -v "$out/" || true)
	[ -z "$bad" ] || fail "$name: an error line that names no file: $bad"
	left=$(ls -A "$out" | grep -v -x -F -e filler -e metrics.jsonl -e leaks.txt \
		-e heap.pb.gz -e heap.svg -e cpu.pb.gz -e cpu.folded -e cpu.svg || true)
	[ -z "$left" ] || fail "$name: left behind in the output directory: $left"
	pycheck "$name" "$out" <<-'EOF'
	import gzip, json, os, re, sys, xml.dom.minidom
	d = sys.argv[1]
	errors = []
	def have(f):
	    return os.path.exists(os.path.join(d, f))
	with open(os.path.join(d, "metrics.jsonl"), "rb") as f:
	    data = f.read()
	lines = data.split(b"\n")
	if data and not data.endswith(b"\n"):
	    errors.append("metrics.jsonl ends in a cut line: %r" % lines[-1][-60:])
	for i, l in enumerate(lines[:-1], 1):
	    try:
	        json.loads(l)
	    except ValueError as e:
	        errors.append("metrics.jsonl line %d is not JSON: %s" % (i, e))
	print("metrics.jsonl: %d whole lines, %d bytes" % (len(lines) - 1, len(data)))
	for f in ("heap.pb.gz", "cpu.pb.gz"):
	    if have(f):
	        try:
	            gzip.open(os.path.join(d, f)).read()
	            print(f + ": whole gzip")
	        except Exception as e:
	            errors.append("%s is not whole: %s" % (f, e))
	for f in ("heap.svg", "cpu.svg"):
	    if have(f):
	        try:
	            xml.dom.minidom.parse(os.path.join(d, f))
	            print(f + ": well-formed")
	        except Exception as e:
	            errors.append("%s is not whole: %s" % (f, e))
	if have("cpu.folded"):
	    text = open(os.path.join(d, "cpu.folded")).read()
	    if text and not text.endswith("\n"):
	        errors.append("cpu.folded ends in a cut line")
	    for l in text.splitlines():
	        if not re.fullmatch(r"\S.* [1-9]\d*", l):
	            errors.append("cpu.folded line %r" % l)
	if have("leaks.txt"):
	    t = open(os.path.join(d, "leaks.txt")).read()
	    if not t.startswith("leak suspects: ") or not t.endswith("\n"):
	        errors.append("leaks.txt is not whole: %r" % t[:80])
	for e in errors:
	    print("FAIL: " + e)
	sys.exit(1 if errors else 0)
EOF
}
MOUNTS=()
unmount() {
	local m
	for m in "${MOUNTS[@]}"; do
		umount -l "$m" 2>/dev/null
	done
}
CLEANUP_HOOK=unmount

# Two windows of metrics (the target's last look and the final one: 16 KiB
# of pages) and leaks.txt (rewritten each window, so a second page while its
# new copy is written), heap.pb.gz (a page) leave little: some files fit,
# the rest do not.
full_session short 3 60 36
[ "$WRITTEN" -ge 2 ] && [ "$FAILED" -ge 1 ] ||
	fail "short: $WRITTEN files written, $FAILED failed: expected some of each"

# After ~9 s metrics.jsonl fills the disk mid-line.
full_session long 14 1 0
grep -q "^memtel-bpf: cannot write $W/long/metrics.jsonl: No space left on device" "$W/long.err" ||
	fail "long: metrics.jsonl never hit the full disk: the test did not test"
grep -q "^metrics: $W/long/metrics.jsonl ([0-9]* windows, [1-9][0-9]* dropped after a write error: No space left on device)" \
	"$W/long.out" || fail "long: the summary does not say that metrics.jsonl windows were dropped"
log "a full disk: each file that did not fit named once, the others whole"
