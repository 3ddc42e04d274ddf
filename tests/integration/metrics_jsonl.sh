#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Metrics without a collector, and the OTEL_* environment's edges:
#  - no endpoint: DIR/metrics.jsonl has one OTLP/JSON
#    ExportMetricsServiceRequest per window (lowerCamelCase, 64-bit
#    integers as strings), all 13 metrics across the lines, as many lines
#    as the summary's windows; DIR/leaks.txt names leak_steady as a
#    critical suspect with its stack, leak_steady then main; heap.svg
#    hovers, zooms and searches in headless chromium;
#  - a bad variable (OTEL_EXPORTER_OTLP_TIMEOUT=abc, ...): exit 2 with one
#    line naming it, before the command is launched;
#  - OTEL_SDK_DISABLED=true with an endpoint: not one request is sent.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

# --- metrics.jsonl and leaks.txt ---------------------------------------------
run_memtel "$W/jsonl" 60 --no-cpu --sample-bytes 1 --export-interval 1 \
	--leak-age 2 -o "$W/prof" -- "$LEAKER" --seconds 6
assert_exit 0
assert_no_sanitizer "$W/jsonl.err"
assert_file "$W/prof/metrics.jsonl"
assert_file "$W/prof/leaks.txt"
grep -q '^OTLP' "$W/jsonl.out" && fail "an OTLP export summary without an endpoint"
windows=$(sed -n 's|^metrics: .*/metrics.jsonl (\([0-9][0-9]*\) windows)$|\1|p' "$W/jsonl.out")
[ -n "$windows" ] || fail "no 'metrics: DIR/metrics.jsonl (N windows)' line in the summary"
lines=$(grep -c '' "$W/prof/metrics.jsonl")
log "metrics.jsonl: $lines lines, summary: $windows windows"
[ "$lines" = "$windows" ] || fail "metrics.jsonl has $lines lines, the summary says $windows windows"
grep -q '^  \[critical\] leak_steady: [0-9]* bytes live in [0-9]* blocks, growing [0-9.]* MB/h' "$W/jsonl.out" ||
	fail "the summary does not list leak_steady as a critical suspect"

pycheck jsonl "$W/prof/metrics.jsonl" "$W/prof/leaks.txt" <<'EOF'
import json, re, sys
import otlp_wire as w

path, leaks = sys.argv[1:]
errors, notes, reqs = [], [], []
with open(path) as f:
    for n, line in enumerate(f, 1):
        if not line.endswith("\n"):
            errors.append("line %d is not terminated" % n)
        try:
            obj = json.loads(line)
        except ValueError as e:
            errors.append("line %d is not JSON: %s" % (n, e))
            continue
        if set(obj) != {"resourceMetrics"}:
            errors.append("line %d: top-level keys %s" % (n, sorted(obj)))
        errs = []
        reqs.append(w.parse_json_request(obj, errs))
        errors += ["line %d: %s" % (n, e) for e in errs]
notes.append("%d lines" % len(reqs))
if len(reqs) < 5:
    errors.append("only %d windows for a 6 s run at one a second" % len(reqs))
w.check_requests(reqs, errors, exe="leaker")
sev = {(a["component"], a["severity"])
       for _, a, _ in w.points(reqs, "memory.leak.size_bytes")}
if ("leak_steady", "critical") not in sev:
    errors.append("memory.leak.size_bytes never names leak_steady/critical: %s"
                  % sorted(sev))

# leaks.txt: the suspect, then its stack innermost first
with open(leaks) as f:
    text = f.read().splitlines()
notes += ["leaks.txt: " + l for l in text[:8]]
if not text or not re.fullmatch(r"leak suspects: [1-9]\d*", text[0]):
    errors.append("leaks.txt starts with %r" % (text[:1],))
i = next((k for k, l in enumerate(text)
          if re.match(r"\s+\[critical\] leak_steady: \d+ bytes live in \d+ "
                      r"blocks, growing [\d.]+ MB/h", l)), None)
if i is None:
    errors.append("leaks.txt has no '[critical] leak_steady: ...' line")
else:
    frames = []
    for l in text[i + 1:]:
        if not l.startswith("      "):
            break
        frames.append(l.split()[0])
    if frames[:2] != ["leak_steady", "main"]:
        errors.append("leak_steady's stack in leaks.txt starts %s, expected "
                      "leak_steady, main" % frames[:3])
    elif "leaker.c:" not in text[i + 1]:
        errors.append("no source line for leak_steady: %r" % text[i + 1])
w.report(errors, notes)
EOF

# heap.svg (the leaker's in-use bytes) works in a real browser: hover, zoom
# and search.
command -v chromium >/dev/null 2>&1 || fail "chromium missing (tools/deps.sh installs it)"
v=$("$MEMTEL_ROOT/tools/check-svg-render.sh" --check "$W/prof/heap.svg" 2>&1) ||
	fail "heap.svg in chromium: $v"

# --- bad OTEL_* values: usage errors naming the variable ---------------------
n=0
bad_env() { # VAR VALUE
	local dir
	n=$((n + 1))
	dir=$W/bad$n
	LOGS=()
	log "$1='$2'"
	export "$1=$2"
	run_memtel "$dir" 30 --no-cpu -o "$dir.prof" -- "$LEAKER" --seconds 1
	unset "$1"
	assert_exit 2 "$1='$2': memtel-bpf"
	assert_no_sanitizer "$dir.err"
	assert_error_line "$dir.err" "$1"
	grep -q '^leaked' "$dir.out" && fail "$1='$2': the command was launched"
	assert_no_file "$dir.prof/heap.pb.gz" "a usage error writes no profile"
}
bad_env OTEL_EXPORTER_OTLP_TIMEOUT abc
bad_env OTEL_EXPORTER_OTLP_METRICS_TIMEOUT -5
bad_env OTEL_EXPORTER_OTLP_COMPRESSION brotli
bad_env OTEL_EXPORTER_OTLP_ENDPOINT ftp://127.0.0.1:4318
bad_env OTEL_METRIC_EXPORT_INTERVAL 10s
bad_env OTEL_RESOURCE_ATTRIBUTES 'team=%zz'
# shellcheck disable=SC2034 # read by fail()
LOGS=()

# --- OTEL_SDK_DISABLED=true: nothing sent ------------------------------------
start_receiver recv
export OTEL_SDK_DISABLED=true
export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$RECV_PORT"
run_memtel "$W/disabled" 60 --no-cpu --sample-bytes 1 --export-interval 1 \
	-o "$W/disabled.prof" -- "$LEAKER" --seconds 3
unset OTEL_SDK_DISABLED OTEL_EXPORTER_OTLP_ENDPOINT
assert_exit 0
assert_no_sanitizer "$W/disabled.err"
assert_file "$W/disabled.prof/heap.pb.gz"
sleep 0.5
got=$(receiver_count "$RECV_DIR")
[ "$got" = 0 ] || fail "OTEL_SDK_DISABLED=true: the receiver got $got requests"
grep -q '^OTLP' "$W/disabled.out" && fail "OTEL_SDK_DISABLED=true: the summary reports OTLP exports"
grep -q "127.0.0.1:$RECV_PORT" "$W/disabled.err" &&
	fail "OTEL_SDK_DISABLED=true: stderr talks of exporting to the endpoint"
log "metrics.jsonl, leaks.txt and the OTEL_* edges checked"
