#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP/HTTP metrics export, read back by a receiver and a protobuf decoder
# that are not memtel-bpf's. The leaker (--wait-signal) is profiled by pid
# with --otlp-endpoint, an API-key header and --service-name, one export a
# second. Every request is a POST to /v1/metrics, Content-Type
# application/x-protobuf, carrying the header; across them all 13 metrics
# with their kinds, units, cumulative monotonic sums and exactly their
# labels; the resource (service.name, process.pid = the leaker, host.name,
# telemetry.sdk.*) and the scope name. leak_steady is a critical leak; the
# allocation counters are exact with --sample-bytes 1; memory.rss_bytes is
# within 10% of the VmRSS the receiver reads from /proc/PID/status when a
# request arrives; the key is never printed, even with -v.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

SECRET=secret123
start_receiver recv --watch-pid-file "$W/target.pid"
start_leaker "$W/target" --seconds 7
echo "$TARGET_PID" >"$W/target.pid"
start_memtel "$W/memtel" -v --pid "$TARGET_PID" --no-cpu --sample-bytes 1 \
	--export-interval 1 --leak-age 2 -o "$W/prof" \
	--otlp-endpoint "http://127.0.0.1:$RECV_PORT" \
	--otlp-header "x-api-key=$SECRET" --service-name leaky-svc
kill -USR1 "$TARGET_PID"
wait_exit "$TARGET_PID" 30 || fail "leaker did not exit"
assert_exit 0 leaker
wait_exit "$MEMTEL_PID" 30 || fail "memtel-bpf still running 30s after its target exited"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
assert_file "$W/prof/heap.pb.gz"

leaked=$(sed -n 's/^leaked \([0-9][0-9]*\) blocks of 65536 bytes$/\1/p' "$W/target.out")
[ -n "$leaked" ] || fail "no 'leaked N blocks' line from the leaker"

stats=$(otlp_stats "$W/memtel.out")
[ -n "$stats" ] || fail "no 'OTLP export: N sent, ...' line in the summary"
read -r sent failed retried dropped <<<"$stats"
log "summary: $sent sent, $failed failed, $retried retried, $dropped dropped"
if [ "$failed" != 0 ] || [ "$dropped" != 0 ]; then fail "exports lost with a healthy receiver: $stats"; fi
n=$(receiver_count "$RECV_DIR")
[ "$sent" = "$n" ] || fail "summary says $sent sent, the receiver got $n requests"

# The API key: sent, but never shown (-v prints the exporter's settings).
if grep -rlF "$SECRET" "$W/memtel.out" "$W/memtel.err" "$W/prof"; then
	fail "the x-api-key value appears in memtel-bpf's output (above)"
fi
grep -q 'x-api-key=<redacted>' "$W/memtel.err" ||
	fail "-v does not show the header as x-api-key=<redacted>"

pycheck otlp-http "$RECV_DIR/requests.jsonl" "$TARGET_PID" "$(readlink -f "$LEAKER")" \
	"$SECRET" "$leaked" <<'EOF'
import math, socket, sys
import otlp_wire as w

path, pid, exe_path, secret, leaked = sys.argv[1:]
pid, leaked = int(pid), int(leaked)
errors, notes = [], []
recs = w.load_records(path)
mrecs = [r for r in recs if r["path"] == "/v1/metrics"]
notes.append("%d requests, %d to /v1/metrics" % (len(recs), len(mrecs)))
for r in recs:
    if "metrics" in r["path"] and r["path"] != "/v1/metrics":
        errors.append("request to %r" % r["path"])
if len(mrecs) < 5:
    errors.append("only %d metrics requests for a 7 s run at one a second"
                  % len(mrecs))
    w.report(errors, notes)

reqs = []
for r in mrecs:
    h = r["headers_lc"]
    where = "request %d" % r["seq"]
    if r["method"] != "POST":
        errors.append("%s: method %s" % (where, r["method"]))
    if h.get("content-type") != "application/x-protobuf":
        errors.append("%s: Content-Type %r" % (where, h.get("content-type")))
    if h.get("x-api-key") != secret:
        errors.append("%s: x-api-key %r" % (where, h.get("x-api-key")))
    if "content-encoding" in h:
        errors.append("%s: Content-Encoding %r without compression asked"
                      % (where, h["content-encoding"]))
    try:
        req = w.parse_request(r["decoded"])
    except (w.WireError, UnicodeDecodeError) as e:
        errors.append("%s: not an ExportMetricsServiceRequest: %s" % (where, e))
        continue
    reqs.append(req)
    # points are stamped in Unix nanoseconds, at the window before sending
    for m in w.metrics_of(req):
        for p in m["points"]:
            dt = r["t_start"] - p["time"] / 1e9
            if not -1 <= dt <= 30:
                errors.append("%s: %s time_unix_nano is %.1f s off the "
                              "arrival time" % (where, m["name"], dt))
                break
w.check_requests(reqs, errors, exe="leaker")

res = w.resource_dict(reqs[0]) if reqs else {}
notes.append("resource: %s" % res)
want = {"service.name": "leaky-svc", "process.pid": pid,
        "host.name": socket.gethostname(),
        "process.executable.name": "leaker",
        "process.executable.path": exe_path,
        "telemetry.sdk.name": "memtel-bpf", "telemetry.sdk.language": "c"}
for k, v in want.items():
    if res.get(k) != v:
        errors.append("resource %s = %r, expected %r" % (k, res.get(k), v))
if not isinstance(res.get("telemetry.sdk.version"), str) or \
        not res.get("telemetry.sdk.version"):
    errors.append("resource telemetry.sdk.version missing")

# leak_steady: a critical leak, in every leak metric that names suspects
crit = [p for _, a, p in w.points(reqs, "memory.leak.size_bytes")
        if a == {"component": "leak_steady", "severity": "critical"}]
if not crit or not crit[-1]["count"]:
    errors.append("no memory.leak.size_bytes{leak_steady, critical} points")
else:
    p = crit[-1]
    notes.append("leak_steady: %d live blocks, %d bytes" % (p["count"], p["sum"]))
    if p["min"] != 65536 or p["max"] != 65536:
        errors.append("leak_steady blocks are %s..%s bytes, expected 65536"
                      % (p["min"], p["max"]))
for name in ("memory.leak.size_bytes", "memory.leak.allocation_count"):
    comps = {(a["component"], a["severity"]) for _, a, _ in w.points(reqs, name)}
    if comps != {("leak_steady", "critical")}:
        errors.append("%s names %s, expected only leak_steady/critical"
                      % (name, sorted(comps)))
last = reqs[-1] if reqs else None
lc = [p["value"] for i, a, p in w.points(reqs, "memory.leak.count")
      if i == len(reqs) - 1]
if lc != [1]:
    errors.append("final memory.leak.count %s, expected [1]" % lc)
gr = max([p["value"] for _, _, p in w.points(reqs, "memory.leak.growth_rate_mb_h")]
         or [0])
notes.append("max growth rate %.0f MB/h" % gr)
if gr <= 50:
    errors.append("growth rate at most %.1f MB/h: not critical" % gr)

# every allocation seen (--sample-bytes 1): exact counts in the last request
def final(name, **attrs):
    v = [p for i, a, p in w.points(reqs, name)
         if i == len(reqs) - 1 and all(a.get(k) == x for k, x in attrs.items())]
    return v[0] if v else None

cnt = final("memory.allocation.count", component="leak_steady", operation="malloc")
tot = final("memory.allocation.total_bytes", component="leak_steady")
hist = final("memory.allocation.size_bytes", component="leak_steady",
             operation="malloc")
churn = final("memory.allocation.count", component="churn_ok", operation="malloc")
if not cnt or not tot or not hist or not churn:
    errors.append("final request lacks the leak_steady/churn_ok allocation "
                  "points")
else:
    notes.append("leak_steady: %d mallocs, %d bytes; churn_ok %d mallocs; "
                 "the leaker says %d" % (cnt["value"], tot["value"],
                                         churn["value"], leaked))
    if cnt["value"] != leaked or hist["count"] != leaked:
        errors.append("memory.allocation.count{leak_steady} %s, histogram "
                      "count %s; the leaker made %d" % (cnt["value"],
                                                         hist["count"], leaked))
    if tot["value"] != 65536 * cnt["value"] or hist["sum"] != tot["value"]:
        errors.append("leak_steady total bytes %s, histogram sum %s, "
                      "expected 65536 x %s" % (tot["value"], hist["sum"],
                                              cnt["value"]))
    if churn["value"] != leaked:
        errors.append("memory.allocation.count{churn_ok} %s, expected %d"
                      % (churn["value"], leaked))

# RSS against /proc/PID/status read by the receiver as each request came
rss = {}
for i, r in enumerate(mrecs):
    for _, a, p in w.points([reqs[i]] if i < len(reqs) else [],
                            "memory.rss_bytes"):
        rss[i] = p["value"]
cmp = 0
for i, r in enumerate(mrecs):
    proc = r.get("vmrss_bytes")
    if r.get("pid") != pid or not proc or i not in rss:
        continue
    cands = [rss[j] for j in (i, i + 1) if j in rss]
    best = min(abs(c - proc) / proc for c in cands)
    cmp += 1
    notes.append("request %d: VmRSS %d, memory.rss_bytes %s (%.1f%%)"
                 % (r["seq"], proc, [int(c) for c in cands], 100 * best))
    if best > 0.10:
        errors.append("request %d: memory.rss_bytes %s vs VmRSS %d: more "
                      "than 10%% apart" % (r["seq"], cands, proc))
if cmp < 3:
    errors.append("only %d requests to compare RSS with" % cmp)
w.report(errors, notes)
EOF
log "OTLP/HTTP export checked"
