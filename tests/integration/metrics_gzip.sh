#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP settings from the environment alone (no --otlp-* option):
#  - OTEL_EXPORTER_OTLP_COMPRESSION=gzip: every request has
#    Content-Encoding: gzip and a body that gunzips to a valid
#    ExportMetricsServiceRequest (all 13 metrics across the run);
#  - OTEL_EXPORTER_OTLP_METRICS_ENDPOINT is used as-is: requests go to its
#    custom path, with no /v1/metrics appended;
#  - OTEL_RESOURCE_ATTRIBUTES values are percent-decoded into the resource
#    (prod%20eu -> "prod eu", %2C and %3D -> ',' and '='), and service.name
#    defaults to unknown_service:<executable>;
#  - OTEL_EXPORTER_OTLP_HEADERS entries are sent.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

CUSTOM_PATH=/custom/prefix/otlp-metrics
start_receiver recv
export OTEL_EXPORTER_OTLP_COMPRESSION=gzip
export OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://127.0.0.1:$RECV_PORT$CUSTOM_PATH"
export OTEL_RESOURCE_ATTRIBUTES='deployment.environment=prod%20eu,team=mem%2Cops%3Dx, region = eu-west-1 '
export OTEL_EXPORTER_OTLP_HEADERS='x-tenant=acme%20corp'
run_memtel "$W/memtel" 60 --no-cpu --sample-bytes 1 --export-interval 1 \
	--leak-age 2 -o "$W/prof" -- "$LEAKER" --seconds 5
unset OTEL_EXPORTER_OTLP_COMPRESSION OTEL_EXPORTER_OTLP_METRICS_ENDPOINT \
	OTEL_RESOURCE_ATTRIBUTES OTEL_EXPORTER_OTLP_HEADERS
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
grep -q '^leaked [0-9]* blocks' "$W/memtel.out" || fail "the leaker did not finish"
assert_file "$W/prof/heap.pb.gz"
assert_no_file "$W/prof/metrics.jsonl" "metrics go to the endpoint"

stats=$(otlp_stats "$W/memtel.out")
[ -n "$stats" ] || fail "no 'OTLP export: N sent, ...' line in the summary"
read -r _ failed _ dropped <<<"$stats"
log "summary: $stats (sent failed retried dropped)"
if [ "$failed" != 0 ] || [ "$dropped" != 0 ]; then fail "exports lost with a healthy receiver: $stats"; fi

pycheck gzip "$RECV_DIR/requests.jsonl" "$CUSTOM_PATH" <<'EOF'
import sys
import otlp_wire as w

path, custom = sys.argv[1:]
errors, notes = [], []
recs = w.load_records(path)
notes.append("%d requests: %s" % (len(recs), sorted({r["path"] for r in recs})))
if len(recs) < 4:
    errors.append("only %d requests for a 5 s run at one a second" % len(recs))
reqs = []
for r in recs:
    where = "request %d" % r["seq"]
    h = r["headers_lc"]
    # only the metrics endpoint is configured: nothing else may be sent
    if r["path"] != custom:
        errors.append("%s: path %r, expected %r as configured"
                      % (where, r["path"], custom))
        continue
    if h.get("content-encoding") != "gzip":
        errors.append("%s: Content-Encoding %r" % (where, h.get("content-encoding")))
    if h.get("content-type") != "application/x-protobuf":
        errors.append("%s: Content-Type %r" % (where, h.get("content-type")))
    if h.get("x-tenant") != "acme corp":
        errors.append("%s: x-tenant %r, expected 'acme corp'"
                      % (where, h.get("x-tenant")))
    if r["body"][:2] != b"\x1f\x8b":
        errors.append("%s: body does not start with the gzip magic" % where)
        continue
    try:
        raw = w.gunzip(r["body"])
        reqs.append(w.parse_request(raw))
    except Exception as e:
        errors.append("%s: %s" % (where, e))
        continue
    if len(raw) <= len(r["body"]):
        errors.append("%s: gzip did not compress (%d -> %d bytes)"
                      % (where, len(raw), len(r["body"])))
w.check_requests(reqs, errors, exe="leaker")
res = w.resource_dict(reqs[0]) if reqs else {}
notes.append("resource: %s" % res)
want = {"deployment.environment": "prod eu", "team": "mem,ops=x",
        "region": "eu-west-1", "service.name": "unknown_service:leaker",
        "telemetry.sdk.name": "memtel-bpf"}
for k, v in want.items():
    if res.get(k) != v:
        errors.append("resource %s = %r, expected %r" % (k, res.get(k), v))
w.report(errors, notes)
EOF
log "gzip, endpoint as-is and resource attributes checked"
