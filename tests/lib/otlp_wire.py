# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""otlp_wire.py - read memtel-bpf's OTLP metrics back without its code.

An independent reader for the metrics tests (tests/integration/metrics_*.sh):

 - a schema-less protobuf wire decoder (varint, fixed64, length-delimited,
   fixed32), and on top of it ExportMetricsServiceRequest mapped by field
   number as opentelemetry-proto defines them (checked against
   opentelemetry/proto/{collector/metrics/v1/metrics_service,metrics/v1/
   metrics,common/v1/common,resource/v1/resource}.proto), verifying each
   field's wire type on the way;
 - the same model read from OTLP/JSON (DIR/metrics.jsonl), checking the
   OTLP/JSON encoding rules (lowerCamelCase keys, 64-bit integers as
   decimal strings, enums as numbers);
 - the 13 metrics memtel-bpf promises (kind, unit, label keys) and
   check_requests(), which validates a sequence of export requests against
   them: structure, temporality, histogram invariants, cumulative sums that
   never go down, one resource and one session across the run;
 - prom_name(): the OpenTelemetry Collector's Prometheus name translation
   (pkg/translator/prometheus normalizeName, now prometheus/otlptranslator),
   for checking the Prometheus names the deploy/ files use.

Stdlib only.
"""
import base64
import gzip
import json
import math
import re
import struct
import sys

# --- protobuf wire format ---------------------------------------------------

WT_VARINT, WT_I64, WT_LEN, WT_I32 = 0, 1, 2, 5


class WireError(ValueError):
    pass


def _varint(buf, i):
    shift = val = 0
    while True:
        if i >= len(buf):
            raise WireError("truncated varint")
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, i
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def fields(buf):
    """[(field_number, wire_type, value)]: value is an int for varints, the
    raw bytes for the others. Groups (wire types 3, 4) are errors."""
    out = []
    i = 0
    buf = bytes(buf)
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise WireError("field number 0")
        if wt == WT_VARINT:
            val, i = _varint(buf, i)
        elif wt == WT_I64:
            if i + 8 > len(buf):
                raise WireError("truncated fixed64 (field %d)" % num)
            val, i = buf[i:i + 8], i + 8
        elif wt == WT_LEN:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise WireError("truncated bytes (field %d: %d > %d)"
                                % (num, n, len(buf) - i))
            val, i = buf[i:i + n], i + n
        elif wt == WT_I32:
            if i + 4 > len(buf):
                raise WireError("truncated fixed32 (field %d)" % num)
            val, i = buf[i:i + 4], i + 4
        else:
            raise WireError("wire type %d (field %d)" % (wt, num))
        out.append((num, wt, val))
    return out


def tree(buf, depth=0):
    """Field-number tree for debugging: a length-delimited value that
    parses as a message is shown as one."""
    out = []
    for num, wt, val in fields(buf):
        if wt == WT_LEN and depth < 12:
            try:
                val = tree(val, depth + 1)
            except (WireError, UnicodeDecodeError):
                try:
                    val = val.decode()
                except UnicodeDecodeError:
                    val = val.hex()
        elif wt != WT_VARINT:
            val = val.hex()
        out.append((num, val))
    return out


def _s64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def _u64le(b):
    return struct.unpack("<Q", b)[0]


def _f64le(b):
    return struct.unpack("<d", b)[0]


class _Msg:
    """Fields of one message, with wire-type checks per field number."""

    def __init__(self, what, buf, known):
        self.what = what
        self.f = {}
        for num, wt, val in fields(buf):
            if num not in known:
                raise WireError("%s: unknown field %d" % (what, num))
            self.f.setdefault(num, []).append((wt, val))

    def _want(self, num, wts):
        vals = self.f.get(num, [])
        for wt, _ in vals:
            if wt not in wts:
                raise WireError("%s: field %d has wire type %d, expected %s"
                                % (self.what, num, wt, wts))
        return [v for _, v in vals]

    def has(self, num):
        return num in self.f

    def msgs(self, num):
        return self._want(num, (WT_LEN,))

    def msg(self, num):
        v = self.msgs(num)
        return v[-1] if v else None

    def string(self, num):
        v = self.msgs(num)
        return v[-1].decode("utf-8") if v else ""

    def varint(self, num):
        v = self._want(num, (WT_VARINT,))
        return v[-1] if v else 0

    def fixed64(self, num):
        v = self._want(num, (WT_I64,))
        return _u64le(v[-1]) if v else 0

    def double(self, num):
        v = self._want(num, (WT_I64,))
        return _f64le(v[-1]) if v else 0.0

    def packed(self, num, conv):
        """A repeated 8-byte scalar: packed (one or more runs) or not."""
        out = []
        for wt, val in self.f.get(num, []):
            if wt == WT_LEN:
                if len(val) % 8:
                    raise WireError("%s: packed field %d is %d bytes"
                                    % (self.what, num, len(val)))
                out += [conv(val[k:k + 8]) for k in range(0, len(val), 8)]
            elif wt == WT_I64:
                out.append(conv(val))
            else:
                raise WireError("%s: field %d has wire type %d"
                                % (self.what, num, wt))
        return out


# Field numbers from opentelemetry-proto (see the file header).
def _any_value(buf):
    m = _Msg("AnyValue", buf, {1, 2, 3, 4, 5, 6, 7, 8})
    if m.has(1):
        return m.string(1)
    if m.has(2):
        return bool(m.varint(2))
    if m.has(3):
        return _s64(m.varint(3))
    if m.has(4):
        return m.double(4)
    if m.has(7):
        return m.msg(7)
    raise WireError("AnyValue: no supported value (fields %s)" % sorted(m.f))


def _attrs(what, bufs):
    """[(key, value)] of KeyValue messages (duplicates kept for checks)."""
    out = []
    for b in bufs:
        kv = _Msg(what + " KeyValue", b, {1, 2, 3})
        out.append((kv.string(1), _any_value(kv.msg(2) or b"")))
    return out


def _number_point(buf):
    m = _Msg("NumberDataPoint", buf, {2, 3, 4, 5, 6, 7, 8})
    p = {"attrs": _attrs("NumberDataPoint", m.msgs(7)),
         "start": m.fixed64(2), "time": m.fixed64(3)}
    if m.has(4):
        p["value"], p["value_type"] = m.double(4), "double"
    elif m.has(6):
        v = m._want(6, (WT_I64,))[-1]
        p["value"], p["value_type"] = struct.unpack("<q", v)[0], "int"
    else:
        p["value"], p["value_type"] = None, None
    return p


def _hist_point(buf):
    m = _Msg("HistogramDataPoint", buf, {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
    return {"attrs": _attrs("HistogramDataPoint", m.msgs(9)),
            "start": m.fixed64(2), "time": m.fixed64(3),
            "count": m.fixed64(4),
            "sum": m.double(5) if m.has(5) else None,
            "bucket_counts": m.packed(6, _u64le),
            "bounds": m.packed(7, _f64le),
            "min": m.double(11) if m.has(11) else None,
            "max": m.double(12) if m.has(12) else None}


def _metric(buf):
    m = _Msg("Metric", buf, {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12})
    out = {"name": m.string(1), "description": m.string(2),
           "unit": m.string(3), "kind": None, "temporality": None,
           "monotonic": None, "points": []}
    kinds = [k for k in (5, 7, 9, 10, 11) if m.has(k)]
    if len(kinds) != 1:
        raise WireError("Metric %r: data fields %s (want exactly one)"
                        % (out["name"], kinds))
    k = kinds[0]
    if k == 5:
        g = _Msg("Gauge", m.msg(5), {1})
        out["kind"] = "gauge"
        out["points"] = [_number_point(b) for b in g.msgs(1)]
    elif k == 7:
        s = _Msg("Sum", m.msg(7), {1, 2, 3})
        out["kind"] = "sum"
        out["points"] = [_number_point(b) for b in s.msgs(1)]
        out["temporality"] = s.varint(2)
        out["monotonic"] = bool(s.varint(3))
    elif k == 9:
        h = _Msg("Histogram", m.msg(9), {1, 2})
        out["kind"] = "histogram"
        out["points"] = [_hist_point(b) for b in h.msgs(1)]
        out["temporality"] = h.varint(2)
    else:
        out["kind"] = {10: "exponential_histogram", 11: "summary"}[k]
    return out


def parse_request(buf):
    """ExportMetricsServiceRequest bytes -> the model (see _model_doc)."""
    req = _Msg("ExportMetricsServiceRequest", buf, {1})
    out = {"resource_metrics": []}
    for rmb in req.msgs(1):
        rm = _Msg("ResourceMetrics", rmb, {1, 2, 3})
        res = _Msg("Resource", rm.msg(1) or b"", {1, 2, 3})
        rmo = {"resource": _attrs("Resource", res.msgs(1)),
               "scope_metrics": []}
        for smb in rm.msgs(2):
            sm = _Msg("ScopeMetrics", smb, {1, 2, 3})
            sc = _Msg("InstrumentationScope", sm.msg(1) or b"", {1, 2, 3, 4})
            rmo["scope_metrics"].append({
                "scope": {"name": sc.string(1), "version": sc.string(2)},
                "metrics": [_metric(b) for b in sm.msgs(2)]})
        out["resource_metrics"].append(rmo)
    return out


# --- OTLP/JSON --------------------------------------------------------------

def _json_u64(v, what, errors):
    if not isinstance(v, str) or not re.fullmatch(r"\d+", v):
        errors.append("%s: %r is not a decimal string (OTLP/JSON 64-bit "
                      "integer)" % (what, v))
        try:
            return int(v)
        except (TypeError, ValueError):
            return 0
    return int(v)


def _json_attrs(lst, what, errors):
    out = []
    for kv in lst or []:
        key = kv.get("key")
        val = kv.get("value", {})
        if "stringValue" in val:
            v = val["stringValue"]
        elif "intValue" in val:
            v = val["intValue"]
            if not isinstance(v, str) or not re.fullmatch(r"-?\d+", v):
                errors.append("%s %s: intValue %r is not a decimal string "
                              "(OTLP/JSON 64-bit integer)" % (what, key, v))
            try:
                v = int(v)
            except (TypeError, ValueError):
                pass
        elif "boolValue" in val:
            v = val["boolValue"]
        elif "doubleValue" in val:
            v = val["doubleValue"]
        else:
            errors.append("%s %s: unsupported value %r" % (what, key, val))
            v = None
        out.append((key, v))
    return out


def parse_json_request(obj, errors):
    """An OTLP/JSON ExportMetricsServiceRequest (decoded JSON) -> the same
    model as parse_request(); encoding-rule violations go to errors."""
    out = {"resource_metrics": []}
    for rm in obj.get("resourceMetrics", []):
        rmo = {"resource": _json_attrs(rm.get("resource", {}).get(
            "attributes"), "resource", errors), "scope_metrics": []}
        for sm in rm.get("scopeMetrics", []):
            sc = sm.get("scope", {})
            mo = []
            for m in sm.get("metrics", []):
                name = m.get("name", "")
                d = {"name": name, "description": m.get("description", ""),
                     "unit": m.get("unit", ""), "kind": None,
                     "temporality": None, "monotonic": None, "points": []}
                kinds = [k for k in ("gauge", "sum", "histogram",
                                     "exponentialHistogram", "summary")
                         if k in m]
                if len(kinds) != 1:
                    errors.append("metric %s: data keys %s" % (name, kinds))
                    mo.append(d)
                    continue
                k = kinds[0]
                body = m[k]
                d["kind"] = k
                if k in ("sum", "histogram"):
                    t = body.get("aggregationTemporality", 0)
                    if not isinstance(t, int):
                        errors.append("metric %s: aggregationTemporality %r "
                                      "is not a number" % (name, t))
                    d["temporality"] = t
                if k == "sum":
                    d["monotonic"] = body.get("isMonotonic", False)
                for p in body.get("dataPoints", []):
                    w = "metric %s point" % name
                    q = {"attrs": _json_attrs(p.get("attributes"), w, errors),
                         "start": _json_u64(p.get("startTimeUnixNano", "0"),
                                            w + " startTimeUnixNano", errors),
                         "time": _json_u64(p.get("timeUnixNano", "0"),
                                           w + " timeUnixNano", errors)}
                    if k == "histogram":
                        q["count"] = _json_u64(p.get("count", "0"),
                                               w + " count", errors)
                        q["sum"] = p.get("sum")
                        q["bucket_counts"] = [
                            _json_u64(c, w + " bucketCounts", errors)
                            for c in p.get("bucketCounts", [])]
                        q["bounds"] = p.get("explicitBounds", [])
                        q["min"] = p.get("min")
                        q["max"] = p.get("max")
                    elif "asDouble" in p:
                        q["value"], q["value_type"] = p["asDouble"], "double"
                    elif "asInt" in p:
                        q["value"] = _json_u64(p["asInt"], w + " asInt", errors)
                        q["value_type"] = "int"
                    else:
                        q["value"], q["value_type"] = None, None
                    d["points"].append(q)
                mo.append(d)
            rmo["scope_metrics"].append({
                "scope": {"name": sc.get("name", ""),
                          "version": sc.get("version", "")},
                "metrics": mo})
        out["resource_metrics"].append(rmo)
    return out


# --- what memtel-bpf promises -----------------------------------------------

# name -> (kind, unit, label keys)
METRICS = {
    "memory.rss_bytes": ("gauge", "By", ("component", "session_id")),
    "memory.heap_bytes": ("gauge", "By", ("component", "session_id")),
    "memory.virtual_bytes": ("gauge", "By", ("component", "session_id")),
    "memory.leak.count": ("sum", "{leak}", ("status",)),
    "memory.leak.growth_rate_mb_h": ("gauge", "MBy/h", ("metric",)),
    "memory.leak.size_bytes": ("histogram", "By", ("component", "severity")),
    "memory.leak.allocation_count": ("sum", "{block}",
                                     ("component", "severity")),
    "memory.allocation.count": ("sum", "{allocation}",
                                ("component", "operation")),
    "memory.allocation.total_bytes": ("sum", "By", ("component",)),
    "memory.allocation.size_bytes": ("histogram", "By",
                                     ("component", "operation")),
    "memory.allocation.efficiency_score": ("gauge", "1", ("component",)),
    "memory.allocator.total_bytes": ("gauge", "By", ("component",)),
    "memory.allocation.distribution": ("sum", "{allocation}",
                                       ("size_category",)),
}
# The profiler's own figures, sent beside the 13 with heap profiling (the
# heap probes' estimated cost, model/overhead.c): checked like them, but
# neither promised in every request nor part of the deploy/ files.
SELF_METRICS = {
    "memtel.probe.cost": ("gauge", "ns", ()),
    "memtel.probe.hits": ("sum", "{hit}", ("process.pid",)),
    "memtel.probe.overhead": ("gauge", "1", ("process.pid", "span")),
    # only when the overhead budget paused the heap probes
    "memtel.heap.probes.on_ratio": ("gauge", "1", ("component", "session_id")),
    "memtel.heap.unverified_bytes": ("gauge", "By", ("component", "session_id")),
}
SEVERITIES = ("low", "medium", "high", "critical")
SIZE_CATEGORIES = ("tiny", "small", "medium", "large", "huge")
# Fixed label values: metric -> {key: allowed values}
FIXED_LABELS = {
    "memory.leak.count": {"status": ("detected",)},
    "memory.leak.growth_rate_mb_h": {"metric": ("growth_rate",)},
    "memory.leak.size_bytes": {"severity": SEVERITIES},
    "memory.leak.allocation_count": {"severity": SEVERITIES},
    "memory.allocation.distribution": {"size_category": SIZE_CATEGORIES},
    "memtel.probe.overhead": {"span": ("window", "session")},
}
PROC_GAUGES = ("memory.rss_bytes", "memory.heap_bytes",
               "memory.virtual_bytes", "memory.allocator.total_bytes")


def series_key(name, attrs):
    return name + "{" + ",".join("%s=%s" % kv for kv in sorted(attrs)) + "}"


def metrics_of(req):
    """[(metric)] of every scope of every resource of a parsed request."""
    return [m for rm in req["resource_metrics"]
            for sm in rm["scope_metrics"] for m in sm["metrics"]]


def points(reqs, name):
    """[(request index, attrs dict, point)] of a metric across requests."""
    out = []
    for i, r in enumerate(reqs):
        for m in metrics_of(r):
            if m["name"] == name:
                out += [(i, dict(p["attrs"]), p) for p in m["points"]]
    return out


def resource_dict(req):
    return dict(req["resource_metrics"][0]["resource"]) \
        if req["resource_metrics"] else {}


def check_request(req, errors, where, exe=None):
    """Structural checks of one parsed request; errors appended."""
    if len(req["resource_metrics"]) != 1:
        errors.append("%s: %d resource_metrics, expected 1"
                      % (where, len(req["resource_metrics"])))
        return
    rm = req["resource_metrics"][0]
    keys = [k for k, _ in rm["resource"]]
    if len(keys) != len(set(keys)):
        errors.append("%s: duplicate resource attributes %s" % (where, keys))
    if len(rm["scope_metrics"]) != 1:
        errors.append("%s: %d scope_metrics, expected 1"
                      % (where, len(rm["scope_metrics"])))
        return
    sm = rm["scope_metrics"][0]
    if sm["scope"]["name"] != "memtel-bpf":
        errors.append("%s: scope name %r, expected memtel-bpf"
                      % (where, sm["scope"]["name"]))
    if not sm["scope"]["version"]:
        errors.append("%s: empty scope version" % where)
    seen = set()
    for m in sm["metrics"]:
        name = m["name"]
        w = "%s: %s" % (where, name)
        if name in seen:
            errors.append(w + ": the metric appears twice")
        seen.add(name)
        if name not in METRICS and name not in SELF_METRICS:
            errors.append(w + ": not one of the 13 metrics")
            continue
        kind, unit, labels = METRICS.get(name) or SELF_METRICS[name]
        if m["kind"] != kind:
            errors.append("%s: kind %s, expected %s" % (w, m["kind"], kind))
            continue
        if m["unit"] != unit:
            errors.append("%s: unit %r, expected %r" % (w, m["unit"], unit))
        if not m["description"]:
            errors.append(w + ": no description")
        if kind == "sum" and (m["temporality"] != 2 or m["monotonic"] is not True):
            errors.append("%s: temporality %s monotonic %s, expected "
                          "cumulative (2) and monotonic"
                          % (w, m["temporality"], m["monotonic"]))
        if kind == "histogram" and m["temporality"] != 2:
            errors.append("%s: temporality %s, expected cumulative (2)"
                          % (w, m["temporality"]))
        if not m["points"]:
            errors.append(w + ": no data points")
        keys_seen = set()
        for p in m["points"]:
            ks = [k for k, _ in p["attrs"]]
            a = dict(p["attrs"])
            if sorted(ks) != sorted(labels):
                errors.append("%s: labels %s, expected exactly %s"
                              % (w, ks, list(labels)))
            sk = series_key(name, p["attrs"])
            if sk in keys_seen:
                errors.append("%s: two points of series %s" % (w, sk))
            keys_seen.add(sk)
            for k, v in a.items():
                if not isinstance(v, str) or not v:
                    errors.append("%s: label %s=%r is not a non-empty string"
                                  % (w, k, v))
            for k, allowed in FIXED_LABELS.get(name, {}).items():
                if a.get(k) not in allowed:
                    errors.append("%s: label %s=%r not in %s"
                                  % (w, k, a.get(k), allowed))
            if exe and name in PROC_GAUGES and a.get("component") != exe:
                errors.append("%s: component %r, expected the executable %r"
                              % (w, a.get("component"), exe))
            if p["time"] <= 0:
                errors.append(w + ": no time_unix_nano")
            if kind != "gauge" and not 0 < p["start"] <= p["time"]:
                errors.append("%s: start %d not in (0, time %d]"
                              % (w, p["start"], p["time"]))
            if kind == "histogram":
                bc, b = p["bucket_counts"], p["bounds"]
                if len(bc) != len(b) + 1:
                    errors.append("%s: %d buckets for %d bounds"
                                  % (w, len(bc), len(b)))
                if sum(bc) != p["count"]:
                    errors.append("%s: buckets sum to %d, count %d"
                                  % (w, sum(bc), p["count"]))
                if any(x >= y for x, y in zip(b, b[1:])):
                    errors.append("%s: bounds not increasing %s" % (w, b))
                if p["sum"] is None or not math.isfinite(p["sum"]):
                    errors.append("%s: sum %r" % (w, p["sum"]))
                if p["count"] and (p["min"] is None or p["max"] is None or
                                   p["min"] > p["max"]):
                    errors.append("%s: min %r max %r" % (w, p["min"], p["max"]))
            else:
                v = p["value"]
                if v is None or not math.isfinite(v):
                    errors.append("%s: value %r" % (w, v))
                elif v < 0:
                    errors.append("%s: negative value %r" % (w, v))
                elif name == "memory.allocation.efficiency_score" and v > 1:
                    errors.append("%s: score %r > 1" % (w, v))


def check_requests(reqs, errors, exe=None, want_all=True):
    """check_request() on each, then across them: every one of the 13
    metrics seen (want_all), one resource, one session_id, cumulative
    series that keep their start time and never go down."""
    names = set()
    for i, r in enumerate(reqs):
        check_request(r, errors, "request %d" % i, exe)
        names |= {m["name"] for m in metrics_of(r)}
    if want_all and set(METRICS) - names:
        errors.append("metrics never sent: %s" % sorted(set(METRICS) - names))
    res = {json.dumps(sorted(resource_dict(r).items())) for r in reqs}
    if len(res) > 1:
        errors.append("the resource changed between requests: %s" % res)
    sids = {a.get("session_id") for n in ("memory.heap_bytes",)
            for _, a, _ in points(reqs, n)}
    if len(sids) != 1 or not re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
            r"[0-9a-f]{12}", next(iter(sids)) or ""):
        errors.append("session_id values %s: expected one UUIDv4" % sids)
    last = {}
    for name, (kind, _, _) in METRICS.items():
        if kind == "gauge":
            continue
        for i, a, p in points(reqs, name):
            sk = series_key(name, a.items())
            v = p["value"] if kind == "sum" else p["count"]
            if sk in last:
                pi, pv, pstart = last[sk]
                # memory.leak.size_bytes is the current suspects' blocks:
                # it may shrink, so each window starts it afresh (a new
                # start time, which OTLP reads as a reset); its start
                # must move forward and stay before the point's time
                if name == "memory.leak.size_bytes":
                    if p["start"] < pstart:
                        errors.append("%s: start time went backwards "
                                      "between requests %d and %d"
                                      % (sk, pi, i))
                    last[sk] = (i, v, p["start"])
                    continue
                if p["start"] != pstart:
                    errors.append("%s: start time changed between requests "
                                  "%d and %d" % (sk, pi, i))
                if v < pv:
                    errors.append("%s: cumulative value went down from %s "
                                  "(request %d) to %s (request %d)"
                                  % (sk, pv, pi, v, i))
            last[sk] = (i, v, p["start"])
    return names


# --- Prometheus names (OpenTelemetry Collector prometheus exporter) -------

# pkg/translator/prometheus/normalize_name.go (now prometheus/otlptranslator
# metric_namer.go): unitMap, perUnitMap and normalizeName().
_UNIT_MAP = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds",
    "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
    "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes",
    "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts",
    "g": "grams", "Cel": "celsius", "Hz": "hertz", "1": "", "%": "percent",
}
_PER_UNIT_MAP = {"s": "second", "m": "minute", "h": "hour", "d": "day",
                 "w": "week", "mo": "month", "y": "year"}


def _clean(s):
    return "_".join(t for t in re.split(r"[^A-Za-z0-9]+", s) if t)


def prom_name(name, unit, kind):
    """The Prometheus metric name the collector's prometheus exporter gives
    an OTLP metric (default settings: suffixes added, names escaped); kind
    is gauge, sum (monotonic) or histogram."""
    tokens = [t for t in re.split(r"[^A-Za-z0-9:]+", name) if t]
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    if main and not re.search(r"[{}]", main):
        u = _clean(_UNIT_MAP.get(main, main))
        if u and u not in tokens:
            tokens.append(u)
    if per and not re.search(r"[{}]", per):
        u = _clean(_PER_UNIT_MAP.get(per, per))
        if u and u not in tokens:
            tokens += ["per", u]
    if kind == "sum":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    return "_" + out if out[:1].isdigit() else out


def prom_names():
    """{Prometheus series name: OTLP metric name} for the 13 metrics,
    histograms with their _bucket, _sum and _count series."""
    out = {}
    for name, (kind, unit, _) in METRICS.items():
        p = prom_name(name, unit, kind)
        if kind == "histogram":
            for suf in ("_bucket", "_sum", "_count"):
                out[p + suf] = name
        else:
            out[p] = name
    return out


# --- receiver records -------------------------------------------------------

def load_records(path):
    """The requests otlp_receiver.py recorded, in arrival order: body and
    decoded as bytes, headers_lc a dict of lowercase names, and t_end /
    client_gone from the "answered" line (t_end None if not answered)."""
    reqs, done = {}, {}
    try:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("event") == "answered":
                    done[r["seq"]] = r
                    continue
                r["body"] = base64.b64decode(r["body"])
                r["decoded"] = base64.b64decode(r["decoded"]) \
                    if r.get("decoded") is not None else None
                r["headers_lc"] = {k.lower(): v for k, v in r["headers"]}
                reqs[r["seq"]] = r
    except FileNotFoundError:
        pass
    out = []
    for seq in sorted(reqs):
        r = reqs[seq]
        d = done.get(seq, {})
        r["t_end"] = d.get("t_end")
        r["client_gone"] = d.get("client_gone")
        out.append(r)
    return out


def gunzip(b):
    return gzip.decompress(b)


def report(errors, notes=()):
    """Print notes and FAIL: lines; exit 1 when there are errors."""
    for n in notes:
        print(n)
    for e in errors:
        print("FAIL: " + e)
    sys.exit(1 if errors else 0)
