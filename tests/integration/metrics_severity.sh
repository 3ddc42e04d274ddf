#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Leak severity end to end, from growth rate alone (the live bytes stay far
# below 10 MB; MB = 10^6 bytes). The thresholds are unit-tested in
# tests/unit/test_memmetrics.c; here a slow leaker must land in the band
# its rate gives, in the summary and in every leak metric of every window:
#  - 1 KiB every 100 ms = 10240 B/s ~ 36.9 MB/h: high (> 20, <= 50 MB/h);
#  - 1 KiB every 250 ms =  4096 B/s ~ 14.7 MB/h: medium (> 5, <= 20 MB/h).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

# leak NAME TICK_MS SEVERITY MIN_MB_H MAX_MB_H
leak() {
	local name=$1 tick=$2 sev=$3 lo=$4 hi=$5 line rate
	run_memtel "$W/$name" 60 --no-cpu --sample-bytes 1 --export-interval 1 \
		--leak-age 2 -o "$W/$name.prof" -- "$LEAKER" --seconds 7 \
		--leak-bytes 1024 --tick-ms "$tick"
	assert_exit 0 "$name: memtel-bpf"
	assert_no_sanitizer "$W/$name.err"
	line=$(grep -E '^  \[[a-z]+\] leak_steady: ' "$W/$name.out")
	[ -n "$line" ] || fail "$name: leak_steady is not a leak suspect in the summary"
	log "$name:$line"
	case $line in
	"  [$sev] leak_steady: "*) ;;
	*) fail "$name: expected [$sev]: $line" ;;
	esac
	rate=$(sed -nE 's/.*growing ([0-9.]+) MB\/h.*/\1/p' <<<"$line")
	awk -v r="$rate" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(r > lo && r <= hi) }' ||
		fail "$name: growth $rate MB/h outside ($lo, $hi]"
	pycheck "$name" "$W/$name.prof/metrics.jsonl" "$sev" "$lo" "$hi" <<'EOF'
import json, sys
import otlp_wire as w

path, sev, lo, hi = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
errors, notes = [], []
with open(path) as f:
    reqs = [w.parse_json_request(json.loads(l), errors) for l in f]
w.check_requests(reqs, errors, exe="leaker", want_all=False)
for name in ("memory.leak.size_bytes", "memory.leak.allocation_count"):
    got = sorted({(a["component"], a["severity"])
                  for _, a, _ in w.points(reqs, name)})
    notes.append("%s: %s" % (name, got))
    if got != [("leak_steady", sev)]:
        errors.append("%s labels %s, expected only leak_steady/%s"
                      % (name, got, sev))
rates = [p["value"] for _, _, p in w.points(reqs, "memory.leak.growth_rate_mb_h")
         if p["value"] > 0]
notes.append("growth rates: %s" % ", ".join("%.1f" % r for r in rates))
if not rates:
    errors.append("memory.leak.growth_rate_mb_h never above 0")
for r in rates:
    if not lo < r <= hi:
        errors.append("memory.leak.growth_rate_mb_h %.2f outside (%s, %s]"
                      % (r, lo, hi))
w.report(errors, notes)
EOF
}

leak high 100 high 20 50
leak medium 250 medium 5 20
log "high and medium leaks classified"
