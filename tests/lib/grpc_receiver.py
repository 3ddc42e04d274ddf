#!/usr/bin/python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""A scripted OTLP/gRPC receiver for the tests: a real gRPC server (Debian's
python3-grpcio) on 127.0.0.1 that takes the OTLP Export calls as raw bytes.

Run it with /usr/bin/python3: a pyenv python3 earlier on PATH does not see
Debian's dist-packages. It registers, with generic handlers and no
deserializer (the handler gets the message bytes exactly as sent, after
gRPC's own decompression),
  /opentelemetry.proto.collector.metrics.v1.MetricsService/Export
  /opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export
and records every call as one JSON line: method, metadata, the message
(base64), its decoding, times and the status answered. The decoding is done
here with a schema-less protobuf wire reader plus the OTLP field numbers, not
with memtel-bpf's generated code, so the two cannot agree by sharing a bug.

Answers follow --statuses, a comma-separated list consumed per method (the
last entry repeats): OK, a gRPC code name (UNAVAILABLE, INVALID_ARGUMENT...)
or NAME@MS to attach a google.rpc.RetryInfo of MS milliseconds in
grpc-status-details-bin. OK answers carry --partial N:TEXT as partial_success
if given; --pad N appends N bytes of 'A' to its error_message, and
--compress answers OK calls gzip-compressed (grpc-encoding: gzip), so that a
few hundred bytes on the wire inflate to N.

Command line (exit 0 ok, 1 check failed, 2 usage error):
  grpc_receiver.py serve --port-file F --record F.jsonl [--statuses LIST]
                   [--partial N:TEXT] [--pad N] [--compress]
                   [--delay-ms MS] [--lifetime S]
                   [--tls-cert PEM --tls-key PEM]
  grpc_receiver.py count RECORD [--method metrics|profiles] [--status CODE]
  grpc_receiver.py check RECORD [--method metrics|profiles] [--min N]
                   [--max N] [--metadata K=V]... [--metric NAME]...
  grpc_receiver.py selftest               wire decoder on hand-built bytes
`serve` writes the port to the port file once it listens and stops on
SIGTERM/SIGINT or after --lifetime seconds (default 120); it speaks h2c
unless given a TLS certificate and key.
"""

import argparse
import base64
import json
import os
import signal
import sys
import threading
import time

METHODS = {
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "profiles": "/opentelemetry.proto.collector.profiles.v1development."
                "ProfilesService/Export",
}

RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


# --- schema-less protobuf wire format ------------------------------------------

# the schema-less reader is otlp_wire's: one decoder for every test
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_wire import WireError, fields  # noqa: E402


def sub(buf, num):
    """The LEN values of field num (a repeated or singular message/string)."""
    out = []
    for n, wt, v in fields(buf):
        if n == num:
            if wt != 2:
                raise WireError("field %d: wire type %d, want 2" % (num, wt))
            out.append(v)
    return out


def enc_varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def enc_field(num, value):
    """A LEN field (bytes/str) or a VARINT field (int >= 0)."""
    if isinstance(value, int):
        return enc_varint(num << 3) + enc_varint(value)
    if isinstance(value, str):
        value = value.encode()
    return enc_varint(num << 3 | 2) + enc_varint(len(value)) + value


# --- OTLP decoding (field numbers from opentelemetry-proto v1.8.0) ----------------

def resource_attrs(resource):
    """Resource.attributes (1): KeyValue key (1), value (2) AnyValue with
    string_value (1); non-string values are shown as None."""
    attrs = {}
    for kv in sub(resource, 1):
        key = sub(kv, 1)
        val = sub(kv, 2)
        s = sub(val[0], 1) if val else []
        attrs[key[0].decode() if key else ""] = s[0].decode() if s else None
    return attrs


def decode_metrics(buf):
    """ExportMetricsServiceRequest: resource_metrics (1) > resource (1),
    scope_metrics (2) > metrics (2) > name (1)."""
    if any(n != 1 or wt != 2 for n, wt, _ in fields(buf)):
        raise WireError("ExportMetricsServiceRequest has only field 1")
    rms = sub(buf, 1)
    out = {"type": "ExportMetricsServiceRequest", "resource_metrics": len(rms),
           "resources": [], "metrics": []}
    for rm in rms:
        res = sub(rm, 1)
        out["resources"].append(resource_attrs(res[0]) if res else {})
        for sm in sub(rm, 2):
            for m in sub(sm, 2):
                name = sub(m, 1)
                out["metrics"].append(name[0].decode() if name else "")
    return out


def decode_profiles(buf):
    """ExportProfilesServiceRequest: resource_profiles (1) > resource (1),
    scope_profiles (2) > profiles (2); dictionary (2)."""
    if any(n not in (1, 2) or wt != 2 for n, wt, _ in fields(buf)):
        raise WireError("ExportProfilesServiceRequest has only fields 1, 2")
    rps = sub(buf, 1)
    out = {"type": "ExportProfilesServiceRequest",
           "resource_profiles": len(rps), "resources": [], "profiles": 0,
           "dictionary": bool(sub(buf, 2))}
    for rp in rps:
        res = sub(rp, 1)
        out["resources"].append(resource_attrs(res[0]) if res else {})
        for sp in sub(rp, 2):
            out["profiles"] += len(sub(sp, 2))
    return out


def export_response(partial, pad=0):
    """Export*ServiceResponse with partial_success (1) = {rejected (1),
    error_message (2)}; both services share these field numbers."""
    if not partial:
        return b""
    n, _, text = partial.partition(":")
    text += "A" * pad
    ps = enc_field(1, int(n)) + (enc_field(2, text) if text else b"")
    return enc_field(1, ps)


def status_details(code, message, delay_ms):
    """google.rpc.Status {code, message, details: [Any RetryInfo]} with
    RetryInfo.retry_delay a google.protobuf.Duration {seconds, nanos}."""
    dur = b""
    if delay_ms // 1000:
        dur += enc_field(1, delay_ms // 1000)
    if delay_ms % 1000:
        dur += enc_field(2, delay_ms % 1000 * 1000000)
    any_ = enc_field(1, RETRY_INFO_TYPE) + enc_field(2, enc_field(1, dur))
    return enc_field(1, code) + enc_field(2, message) + enc_field(3, any_)


# --- server ----------------------------------------------------------------------

class Receiver:
    def __init__(self, args, grpc):
        self.grpc = grpc
        self.args = args
        self.statuses = [s.strip() for s in args.statuses.split(",") if s.strip()]
        for s in self.statuses:
            name = s.partition("@")[0]
            if name != "OK" and not hasattr(grpc.StatusCode, name):
                raise SystemExit("grpc_receiver: unknown status '%s'" % s)
        self.lock = threading.Lock()
        self.calls = {}
        self.n = 0
        self.record = open(args.record, "a", encoding="utf-8")

    def handler(self, kind):
        def export(request, context):
            return self.export(kind, request, context)
        return export

    def export(self, kind, request, context):
        grpc = self.grpc
        t = time.time()
        remaining = context.time_remaining()
        if remaining is not None and remaining > 1e9:
            remaining = None  # no grpc-timeout: "infinite"
        with self.lock:
            i = self.calls.get(kind, 0)
            self.calls[kind] = i + 1
            self.n += 1
            seq = self.n
        script = self.statuses or ["OK"]
        answer = script[min(i, len(script) - 1)]
        name, _, delay = answer.partition("@")
        rec = {
            "seq": seq,
            "method": METHODS[kind],
            "kind": kind,
            "time": t,
            "time_remaining": remaining,
            "metadata": [[m.key, m.value if isinstance(m.value, str) else
                          base64.b64encode(m.value).decode()]
                         for m in context.invocation_metadata()],
            "len": len(request),
            "message": base64.b64encode(request).decode(),
            "status": name,
        }
        try:
            rec["decoded"] = (decode_metrics if kind == "metrics" else
                              decode_profiles)(request)
        except WireError as e:
            rec["decode_error"] = str(e)
        if self.args.delay_ms:
            time.sleep(self.args.delay_ms / 1000.0)
        with self.lock:
            self.record.write(json.dumps(rec) + "\n")
            self.record.flush()
        if name == "OK":
            if self.args.compress:
                context.set_compression(grpc.Compression.Gzip)
            return export_response(self.args.partial, self.args.pad)
        code = getattr(grpc.StatusCode, name)
        text = "scripted %s (call %d)" % (name, i + 1)
        if delay:
            context.set_trailing_metadata((
                ("grpc-status-details-bin",
                 status_details(code.value[0], text, int(delay))),))
        context.abort(code, text)
        return None  # not reached


def serve(args):
    try:
        import grpc
    except ImportError:
        print("grpc_receiver: python3-grpcio is not installed (%s)" %
              sys.executable, file=sys.stderr)
        return 2
    from concurrent import futures

    rx = Receiver(args, grpc)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    for kind, method in METHODS.items():
        service, name = method[1:].split("/")
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            service, {name: grpc.unary_unary_rpc_method_handler(
                rx.handler(kind), request_deserializer=None,
                response_serializer=None)}),))
    if args.tls_cert:
        with open(args.tls_key, "rb") as k, open(args.tls_cert, "rb") as c:
            creds = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    if not port:
        print("grpc_receiver: cannot listen on 127.0.0.1", file=sys.stderr)
        return 2
    server.start()
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % port)
    os.rename(tmp, args.port_file)
    print("grpc_receiver: listening on 127.0.0.1:%d" % port, flush=True)

    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait(args.lifetime)
    server.stop(0).wait(5)
    rx.record.close()
    return 0


# --- checks ------------------------------------------------------------------------

def load(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                out.append(json.loads(line))
    return out


def select(calls, method=None, status=None):
    return [c for c in calls
            if (not method or c["kind"] == method) and
            (not status or c["status"] == status)]


def cmd_count(args):
    print(len(select(load(args.record), args.method, args.status)))
    return 0


def cmd_check(args):
    calls = select(load(args.record), args.method)
    problems = []
    if len(calls) < args.min:
        problems.append("%d calls, want at least %d" % (len(calls), args.min))
    if args.max is not None and len(calls) > args.max:
        problems.append("%d calls, want at most %d" % (len(calls), args.max))
    for c in calls:
        where = "call %d (%s)" % (c["seq"], c["method"])
        if "decode_error" in c:
            problems.append("%s: not decodable: %s" % (where, c["decode_error"]))
            continue
        d = c["decoded"]
        if d.get("resource_metrics", d.get("resource_profiles", 0)) < 1:
            problems.append("%s: no resource_metrics/resource_profiles" % where)
        md = {k: v for k, v in c["metadata"]}
        for kv in args.metadata:
            k, _, v = kv.partition("=")
            if md.get(k) != v:
                problems.append("%s: metadata %s is %r, want %r" %
                                (where, k, md.get(k), v))
        for name in args.metric:
            if name not in d.get("metrics", []):
                problems.append("%s: no metric %s" % (where, name))
    for c in calls:
        d = c.get("decoded", {})
        print("call %d %s %s len=%d status=%s %s" % (
            c["seq"], c["kind"], time.strftime("%H:%M:%S",
                                               time.localtime(c["time"])),
            c["len"], c["status"],
            json.dumps({k: d[k] for k in d if k not in ("metrics",)})))
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


def cmd_selftest(_args):
    name = enc_field(1, "memtel.heap.inuse")
    rm = (enc_field(1, enc_field(1, enc_field(1, "service.name") +
                                 enc_field(2, enc_field(1, "svc")))) +
          enc_field(2, enc_field(2, name)))
    d = decode_metrics(enc_field(1, rm))
    assert d["resource_metrics"] == 1, d
    assert d["metrics"] == ["memtel.heap.inuse"], d
    assert d["resources"] == [{"service.name": "svc"}], d
    for bad in (b"\x0a\x05ab", b"\x08", b"\x10\x01"):
        try:
            decode_metrics(bad)
        except WireError:
            continue
        raise AssertionError("accepted %r" % bad)
    st = fields(status_details(14, "x", 1500))
    assert st[0] == (1, 0, 14), st
    assert export_response("3:bad") == b"\x0a\x07\x08\x03\x12\x03bad"
    print("selftest ok")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sp = ap.add_subparsers(dest="cmd", required=True)
    s = sp.add_parser("serve")
    s.add_argument("--port-file", required=True)
    s.add_argument("--record", required=True)
    s.add_argument("--statuses", default="OK")
    s.add_argument("--partial", default="")
    s.add_argument("--pad", type=int, default=0)
    s.add_argument("--compress", action="store_true")
    s.add_argument("--delay-ms", type=int, default=0)
    s.add_argument("--lifetime", type=float, default=120)
    s.add_argument("--tls-cert", help="serve TLS with this PEM certificate")
    s.add_argument("--tls-key", help="and this PEM key")
    c = sp.add_parser("count")
    c.add_argument("record")
    c.add_argument("--method", choices=sorted(METHODS))
    c.add_argument("--status")
    k = sp.add_parser("check")
    k.add_argument("record")
    k.add_argument("--method", choices=sorted(METHODS))
    k.add_argument("--min", type=int, default=1)
    k.add_argument("--max", type=int)
    k.add_argument("--metadata", action="append", default=[])
    k.add_argument("--metric", action="append", default=[])
    sp.add_parser("selftest")
    args = ap.parse_args()
    return {"serve": serve, "count": cmd_count, "check": cmd_check,
            "selftest": cmd_selftest}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
