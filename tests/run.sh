#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# run.sh - the test driver behind `make test`. Runs every cmocka unit test
# binary and every tests/integration/*.sh, first against the normal build,
# then again against the ASan+UBSan build (unless MEMTEL_SKIP_ASAN=1).
#
# Usage: tests/run.sh [FILTER...]   run only tests whose name contains a FILTER
#                                   (names look like normal/integration/bad_usage)
# Environment:
#   MEMTEL_SKIP_ASAN=1     skip the ASan pass
#   MEMTEL_REQUIRE_BPF=1   a skipped test counts as a failure (CI with BPF)
#   MEMTEL_BIN             binary for the normal pass (default ./memtel-bpf)
#   MEMTEL_RESULTS_DIR     logs (default .output/test-results; wiped first)
#   MEMTEL_TEST_TIMEOUT    seconds per test binary or script (default 300)
#   MEMTEL_FUZZ_SECONDS    seconds per libFuzzer harness (default 5)
#
# An integration script may carry marker lines:
#   # memtel-test: timeout=SECONDS   its own limit, above MEMTEL_TEST_TIMEOUT
#                                    (one that builds a container image)
#   # memtel-test: normal-only       not run again in the ASan pass (it tests
#                                    packaging, not the binary's memory use)
#
# Integration scripts exit 0 (pass), 77 (skip) or anything else (fail); they
# get MEMTEL_BIN, MEMTEL_WL_DIR, MEMTEL_ROOT and a fresh TMPDIR, which is
# kept next to the log when the test fails. The last line of output is
# "N passed, N failed" (", N skipped" when there were skips); the exit status
# is non-zero when anything failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

RESULTS=${MEMTEL_RESULTS_DIR:-$ROOT/.output/test-results}
TIMEOUT=${MEMTEL_TEST_TIMEOUT:-300}
REQUIRE_BPF=${MEMTEL_REQUIRE_BPF:-0}
NORMAL_BIN=${MEMTEL_BIN:-$ROOT/memtel-bpf}
case $NORMAL_BIN in /*) ;; *) NORMAL_BIN=$ROOT/$NORMAL_BIN ;; esac
WL_DIR=$ROOT/.output/workloads
FILTERS=("$@")

passed=0
failed=0
skipped=0

rm -rf "$RESULTS"
mkdir -p "$RESULTS" || exit 1

selected() { # NAME
	local f
	[ ${#FILTERS[@]} -eq 0 ] && return 0
	for f in "${FILTERS[@]}"; do
		case $1 in *"$f"*) return 0 ;; esac
	done
	return 1
}

# result STATUS NAME [NOTE [SECONDS]]
result() {
	local status=$1 name=$2 note=${3:-} secs=${4:-}
	if [ "$status" = SKIP ] && [ "$REQUIRE_BPF" = 1 ]; then
		status=FAIL
		note="skipped, but MEMTEL_REQUIRE_BPF=1${note:+: $note}"
	fi
	case $status in
	PASS) passed=$((passed + 1)) ;;
	FAIL) failed=$((failed + 1)) ;;
	SKIP) skipped=$((skipped + 1)) ;;
	esac
	printf '%-4s  %s%s%s\n' "$status" "$name" "${secs:+  [${secs}s]}" "${note:+  ($note)}"
}

show_log() { # LOG
	echo "      log: ${1#"$ROOT"/}"
	tail -n 25 "$1" | sed 's/^/      | /'
}

# Print "STATUS name" per test of a cmocka binary's stdout: the first
# OK/FAILED/SKIPPED after each RUN line; a RUN without one (setup error,
# crash) is a failure. Summaries go to stderr and are not read.
parse_cmocka() { # STDOUT-FILE
	awk '
	function flush(why) { if (cur != "") print "FAIL", cur, why; cur = "" }
	/^\[ RUN      \] / { flush("no result"); cur = substr($0, 14); next }
	/^\[       OK \] / { if (cur != "") print "PASS", cur; cur = ""; next }
	/^\[  FAILED  \] / { if (cur != "") print "FAIL", cur; cur = ""; next }
	/^\[  SKIPPED \] / { if (cur != "") print "SKIP", cur; cur = ""; next }
	/^\[==========\] / { flush("no result"); next }
	END { flush("crashed or timed out") }
	' "$1"
}

run_unit() { # PASS OUTPUT-DIR
	local pass=$1 outdir=$2 src base bin name log tmp rc st test note nfail ntests
	mkdir -p "$RESULTS/$pass/unit"
	for src in tests/unit/test_*.c; do
		[ -e "$src" ] || continue
		base=$(basename "$src" .c)
		bin=$outdir/tests/$base
		name=$pass/unit/$base
		selected "$name" || continue
		if [ ! -x "$bin" ]; then
			result FAIL "$name" "not built: ${bin#"$ROOT"/}"
			continue
		fi
		log=$RESULTS/$pass/unit/$base.log
		tmp=$RESULTS/$pass/unit/$base.tmp
		mkdir -p "$tmp"
		# (the braces keep bash's own "Aborted" notice out of the output)
		{ CMOCKA_MESSAGE_OUTPUT=STDOUT TMPDIR=$tmp \
			timeout -k 10 "$TIMEOUT" "$bin" >"$log.stdout" 2>"$log.stderr" </dev/null; } 2>/dev/null
		rc=$?
		parse_cmocka "$log.stdout" >"$log.results"
		{ cat "$log.stdout"; echo "---- stderr"; cat "$log.stderr"; echo "---- exit $rc"; } >"$log"
		nfail=0
		ntests=0
		while read -r st test note; do
			ntests=$((ntests + 1))
			[ "$st" = FAIL ] && nfail=$((nfail + 1))
			result "$st" "$name/$test" "$note"
		done <"$log.results"
		rm -f "$log.stdout" "$log.stderr" "$log.results"
		if [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
			result FAIL "$name" "exit $rc$([ "$rc" -eq 124 ] && echo ', timed out')"
			nfail=1
		elif [ "$ntests" -eq 0 ]; then
			result FAIL "$name" "no cmocka results"
			nfail=1
		fi
		if [ "$nfail" -gt 0 ]; then
			show_log "$log"
		else
			rm -rf "$tmp"
		fi
	done
}

run_integration() { # PASS MEMTEL-BIN
	local pass=$1 bin=$2 script base name log tmp rc start secs limit own
	mkdir -p "$RESULTS/$pass/integration"
	for script in tests/integration/*.sh; do
		[ -e "$script" ] || continue
		base=$(basename "$script" .sh)
		name=$pass/integration/$base
		selected "$name" || continue
		if [ "$pass" != normal ] &&
			grep -q '^# memtel-test: normal-only' "$script"; then
			continue
		fi
		limit=$TIMEOUT
		own=$(sed -n 's/^# memtel-test: timeout=\([0-9]*\)$/\1/p' "$script" | head -n 1)
		[ -n "$own" ] && [ "$own" -gt "$limit" ] && limit=$own
		log=$RESULTS/$pass/integration/$base.log
		tmp=$RESULTS/$pass/integration/$base.tmp
		mkdir -p "$tmp"
		start=$SECONDS
		{ MEMTEL_BIN=$bin MEMTEL_WL_DIR=$WL_DIR MEMTEL_ROOT=$ROOT TMPDIR=$tmp \
			timeout -k 10 "$limit" "$script" >"$log" 2>&1 </dev/null; } 2>/dev/null
		rc=$?
		secs=$((SECONDS - start))
		echo "---- exit $rc after ${secs}s" >>"$log"
		case $rc in
		0)
			result PASS "$name" "" "$secs"
			rm -rf "$tmp"
			;;
		77)
			result SKIP "$name" "$(sed -n 's/^SKIP: //p' "$log" | head -n 1)" "$secs"
			[ "$REQUIRE_BPF" = 1 ] && show_log "$log"
			rm -rf "$tmp"
			;;
		124 | 137)
			result FAIL "$name" "timed out" "$secs"
			show_log "$log"
			;;
		*)
			result FAIL "$name" "$(sed -n 's/^FAIL: //p' "$log" | head -n 1)" "$secs"
			show_log "$log"
			;;
		esac
	done
}

run_fuzz() { # a short run of every libFuzzer harness (longer: make fuzz)
	local bin name line secs=${MEMTEL_FUZZ_SECONDS:-5}
	for src in tests/fuzz/fuzz_*.c; do
		[ -e "$src" ] || continue
		name=$(basename "$src" .c)
		selected "fuzz/$name" || continue
		bin=$ROOT/.output-fuzz/fuzz/$name
		if [ ! -x "$bin" ]; then
			result FAIL "fuzz/$name" "not built: run make fuzzers"
			continue
		fi
		if line=$(tests/fuzz/run.sh "$secs" "$name"); then
			result PASS "fuzz/$name" "$(echo "$line" | sed 's/^[^ ]* *//')"
		else
			result FAIL "fuzz/$name" "$(echo "$line" | sed 's/^[^ ]* *//')"
		fi
	done
}

echo "== fuzzers (${MEMTEL_FUZZ_SECONDS:-5}s each)"
run_fuzz

echo "== normal build"
run_unit normal "$ROOT/.output"
run_integration normal "$NORMAL_BIN"

if [ "${MEMTEL_SKIP_ASAN:-0}" != 1 ]; then
	echo "== ASan+UBSan build"
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	# leaks inside third-party libraries (tests/lsan.supp says which)
	export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
	run_unit asan "$ROOT/.output-asan"
	run_integration asan "$ROOT/.output-asan/memtel-bpf"
fi

if [ $((passed + failed + skipped)) -eq 0 ]; then
	result FAIL "(no tests${FILTERS[*]:+ match ${FILTERS[*]}})"
fi

summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" -eq 0 ]
