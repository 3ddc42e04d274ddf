#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Root never writes through a link planted in the output directory. The
# directory belongs to another user (nobody), who has put a symlink at the
# name of every output file (metrics.jsonl, leaks.txt, heap.pb.gz,
# heap.svg, cpu.pb.gz, cpu.folded, cpu.svg), each pointing at a root-owned
# file outside. After a short heap + CPU session the target file is
# unchanged, and every output is a regular file of root's, mode 0644, with
# its real content (the links were replaced, not followed).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker
id nobody >/dev/null 2>&1 || fail "no user 'nobody' to own the directory"

outputs="metrics.jsonl leaks.txt heap.pb.gz heap.svg cpu.pb.gz cpu.folded cpu.svg"
victim=$W/victim
printf 'root-owned file the profiler must not touch\n' >"$victim"
chmod 0600 "$victim"
before=$(sha256sum <"$victim")

# nobody owns the directory and the links, so the kernel's
# protected_symlinks rule (links in sticky world-writable directories)
# does not stop root from following them: only the profiler can.
out=$W/out
mkdir "$out"
for f in $outputs; do
	ln -s "$victim" "$out/$f"
	chown -h nobody "$out/$f"
done
chown nobody "$out"

run_memtel "$W/run" 60 --sample-bytes 1 --export-interval 1 --leak-age 1 \
	-o "$out" -- "$LEAKER" --seconds 2
assert_exit 0
assert_no_sanitizer "$W/run.err"

after=$(sha256sum <"$victim")
[ "$before" = "$after" ] || fail "the file behind the planted links was changed: $(head -c 200 "$victim")"
[ "$(stat -c %s "$victim")" -lt 100 ] || fail "the victim file grew"
for f in $outputs; do
	p=$out/$f
	[ -L "$p" ] && fail "$f is still the planted symlink"
	[ -f "$p" ] || fail "$f is not a regular file"
	# the leaker barely runs: cpu.folded may rightly have no lines
	[ -s "$p" ] || [ "$f" = cpu.folded ] || fail "$f is empty"
	st=$(stat -c '%U %a' "$p")
	[ "$st" = "root 644" ] || fail "$f: owner and mode '$st', expected 'root 644'"
done
head -n1 "$out/leaks.txt" | grep -q '^leak suspects: ' ||
	fail "leaks.txt does not start with 'leak suspects:'"
gzip -t "$out/heap.pb.gz" "$out/cpu.pb.gz" || fail "a pprof file is not whole gzip"
grep -q '"resourceMetrics"' "$out/metrics.jsonl" || fail "metrics.jsonl has no metrics"
log "all $(echo "$outputs" | wc -w) planted links were replaced; the victim is unchanged"
