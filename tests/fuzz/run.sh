#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# tests/fuzz/run.sh SECONDS [NAME...] - run each libFuzzer harness (built by
# `make fuzzers` into .output-fuzz/fuzz/) for SECONDS from its seed corpus
# (tests/fuzz/corpus/NAME, copied: the seeds in the repo stay as they are).
# Prints one line per harness with its executions and crashes; a crashing
# input is kept under .output-fuzz/crashes/NAME/. Exit 1 if any crashed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
out=$ROOT/.output-fuzz
rc=0
for bin in "$out"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
	work=$(mktemp -d)
	[ -d "$ROOT/tests/fuzz/corpus/$name" ] && cp -r "$ROOT/tests/fuzz/corpus/$name/." "$work/"
	mkdir -p "$out/crashes/$name"
	log=$out/crashes/$name.log
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$out/crashes/$name/" "$work" >"$log" 2>&1
	st=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
	[ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -n 1 | tr -d '#')
	crashes=$(find "$out/crashes/$name" -type f | wc -l)
	printf '%-28s %s execs in %ss, %s crashes%s\n' "$name" "${execs:-?}" "$secs" "$crashes" \
		"$([ $st -ne 0 ] && echo " (exit $st, log: ${log#"$ROOT"/})")"
	[ $st -ne 0 ] && rc=1
	rm -rf "$work"
done
exit $rc
