#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""otlp_profiles_check.py - read memtel-bpf's OTLP profiles back with a
decoder that is not ours and compare them with the pprof files of the run.

  otlp_profiles_check.py RECORDS --cpu-pprof CPU.json --heap-pprof HEAP.json
                         [--grpc] [--cpu-funcs a,b] [--pid N]
  otlp_profiles_check.py schema        field numbers of proto/ vs v1.11.0

RECORDS come from otlp_receiver.py (HTTP, path /v1development/profiles) or,
with --grpc, from grpc_receiver.py (ProfilesService/Export calls answered
OK). Each body is decoded by python3-protobuf (Debian) with Python code that
protoc generates at run time from proto/*.proto; those files must carry the
field numbers of opentelemetry-proto v1.11.0, which SPEC below lists as
read from the official repository at that tag
(opentelemetry/proto/profiles/v1development/profiles.proto,
collector/profiles/v1development/profiles_service.proto,
common/v1/common.proto), and every run checks that they still do. A body
with fields the schema does not know fails (a layout from another release).
The *.json files are `pprof_raw.py summary` output (go tool pprof -raw).

Checks: dictionary zero entries; every index in range; one value and no
timestamps per sample (one shape); no two samples of a profile with the
same {stack, attribute set, link}; attribute names of the semantic
conventions (thread.id, thread.name, profile.frame.type,
process.executable.build_id.gnu/.htlhash) and unique keys per
attribute_indices; alloc profiles timed as their window, in-use ones from
one process start to the window's end; and the numbers: per stack, the CPU
sample counts and alloc_space / alloc_objects over all requests equal
cpu.pb.gz's and heap.pb.gz's, and the last request's inuse_space and
inuse_objects equal heap.pb.gz's.
"""
import argparse
import base64
import collections
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otlp_wire  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")
PROTO_FILES = ["otlp_common.proto", "otlp_resource.proto",
               "otlp_profiles.proto", "otlp_profiles_service.proto"]

P = "opentelemetry.proto.profiles.v1development."
C = "opentelemetry.proto.common.v1."
# opentelemetry-proto v1.11.0: message -> {field: number}, complete.
SPEC = {
    "opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest":
        {"resource_profiles": 1, "dictionary": 2},
    P + "ProfilesDictionary": {
        "mapping_table": 1, "location_table": 2, "function_table": 3,
        "link_table": 4, "string_table": 5, "attribute_table": 6,
        "stack_table": 7},
    P + "ResourceProfiles": {"resource": 1, "scope_profiles": 2,
                             "schema_url": 3},
    P + "ScopeProfiles": {"scope": 1, "profiles": 2, "schema_url": 3},
    P + "Profile": {
        "sample_type": 1, "samples": 2, "time_unix_nano": 3,
        "duration_nano": 4, "period_type": 5, "period": 6, "profile_id": 7,
        "dropped_attributes_count": 8, "original_payload_format": 9,
        "original_payload": 10, "attribute_indices": 11},
    P + "Link": {"trace_id": 1, "span_id": 2},
    P + "ValueType": {"type_strindex": 1, "unit_strindex": 2},
    P + "Sample": {"stack_index": 1, "attribute_indices": 2,
                   "link_index": 3, "values": 4, "timestamps_unix_nano": 5},
    P + "Mapping": {"memory_start": 1, "memory_limit": 2, "file_offset": 3,
                    "filename_strindex": 4, "attribute_indices": 5},
    P + "Stack": {"location_indices": 1},
    P + "Location": {"mapping_index": 1, "address": 2, "lines": 3,
                     "attribute_indices": 4},
    P + "Line": {"function_index": 1, "line": 2, "column": 3},
    P + "Function": {"name_strindex": 1, "system_name_strindex": 2,
                     "filename_strindex": 3, "start_line": 4},
    P + "KeyValueAndUnit": {"key_strindex": 1, "value": 2,
                            "unit_strindex": 3},
    C + "AnyValue": {"string_value": 1, "bool_value": 2, "int_value": 3,
                     "double_value": 4, "array_value": 5, "kvlist_value": 6,
                     "bytes_value": 7, "string_value_strindex": 8},
    C + "KeyValue": {"key": 1, "value": 2, "key_strindex": 3},
}

SAMPLE_KEYS = {"thread.id", "thread.name"}
BUILD_ID_KEYS = {"process.executable.build_id.gnu",
                 "process.executable.build_id.htlhash"}


def load_schema():
    """The request class, from protoc-generated Python of proto/."""
    out = tempfile.mkdtemp(prefix="otlp_pb2.")
    subprocess.run(["protoc", "--proto_path=" + PROTO_DIR,
                    "--python_out=" + out] +
                   [os.path.join(PROTO_DIR, f) for f in PROTO_FILES],
                   check=True)
    sys.path.insert(0, out)
    import otlp_profiles_service_pb2 as svc  # noqa: E402
    return svc


def check_schema(svc, errors):
    pool = svc.DESCRIPTOR.pool
    for name, want in SPEC.items():
        try:
            d = pool.FindMessageTypeByName(name)
        except KeyError:
            errors.append("proto/: no message %s" % name)
            continue
        got = {f.name: f.number for f in d.fields}
        if got != want:
            errors.append("proto/: %s is %s, v1.11.0 has %s"
                          % (name, sorted(got.items()), sorted(want.items())))


def has_unknown(msg):
    """Does msg (or anything in it) hold fields the schema does not know?"""
    c = type(msg)()
    c.CopyFrom(msg)
    c.DiscardUnknownFields()
    return c.ByteSize() != msg.ByteSize()


def records(path, grpc):
    """[(where, body bytes, time)] of the profiles requests in a record."""
    out = []
    if grpc:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                c = json.loads(line)
                if c.get("kind") == "profiles" and c.get("status") == "OK":
                    out.append(("gRPC call %d" % c["seq"],
                                base64.b64decode(c["message"]), c["time"]))
        return out
    for r in otlp_wire.load_records(path):
        if r["path"] != "/v1development/profiles":
            continue
        ct = r["headers_lc"].get("content-type")
        if ct != "application/x-protobuf":
            raise SystemExit("FAIL: request %d: content-type %s"
                             % (r["seq"], ct))
        out.append(("request %d" % r["seq"], r["decoded"], None))
    return out


class Req:
    """One decoded request with index-checked dictionary lookups."""

    def __init__(self, where, req, errors):
        self.where, self.req, self.errors = where, req, errors
        self.d = req.dictionary

    def err(self, msg):
        self.errors.append("%s: %s" % (self.where, msg))

    def at(self, table, i, what):
        if i <= 0 or i >= len(table):
            self.err("%s index %d out of range (table of %d)"
                     % (what, i, len(table)))
            return None
        return table[i]

    def s(self, i):
        if i < 0 or i >= len(self.d.string_table):
            self.err("string index %d out of range" % i)
            return "?"
        return self.d.string_table[i]

    def attrs(self, indices, what):
        kv = []
        for i in indices:
            a = self.at(self.d.attribute_table, i, what + " attribute")
            if a is None:
                continue
            v = a.value
            val = (v.string_value if v.WhichOneof("value") == "string_value"
                   else v.int_value if v.WhichOneof("value") == "int_value"
                   else None)
            kv.append((self.s(a.key_strindex), val))
        keys = [k for k, _ in kv]
        if len(set(keys)) != len(keys):
            self.err("%s attributes with a repeated key: %s" % (what, keys))
        return dict(kv)

    def check_zero(self):
        d = self.d
        if not d.string_table or d.string_table[0] != "":
            self.err('string_table[0] is not ""')
        for name in ("mapping_table", "location_table", "function_table",
                     "attribute_table", "stack_table", "link_table"):
            t = getattr(d, name)
            if not len(t):
                self.err("%s has no zero entry" % name)
                continue
            z = t[0]
            if name == "link_table":
                if any(z.trace_id) or any(z.span_id):
                    self.err("link_table[0] is not all zero")
            elif z.ByteSize():
                self.err("%s[0] is not the zero value: %s" % (name, z))

    def frames(self, stack_index):
        """Function names of a stack, leaf first, inlined expanded (as
        pprof_raw.py names them)."""
        st = self.at(self.d.stack_table, stack_index, "stack")
        if st is None:
            return None
        names = []
        for li in st.location_indices:
            loc = self.at(self.d.location_table, li, "location")
            if loc is None:
                continue
            if loc.mapping_index:
                self.at(self.d.mapping_table, loc.mapping_index, "mapping")
            a = self.attrs(loc.attribute_indices, "location")
            if a.get("profile.frame.type") not in ("native", "kernel"):
                self.err("location %d: profile.frame.type %r"
                         % (li, a.get("profile.frame.type")))
            if not loc.lines:
                names.append("0x%x" % loc.address)
            for ln in loc.lines:
                f = self.at(self.d.function_table, ln.function_index,
                            "function")
                names.append(self.s(f.name_strindex) if f else "?")
        return tuple(names)


def pprof_sites(path, types):
    """{frames tuple: {sample type: value}} of a pprof_raw.py summary."""
    with open(path) as f:
        s = json.load(f)
    names = [t.split("/")[0] for t in s["sample_types"]]
    out = collections.defaultdict(collections.Counter)
    for st in s["stacks"]:
        for n, v in zip(names, st["values"]):
            if n in types:
                out[tuple(st["frames"])][n] += v
    return out


def compare(what, otlp, pprof, errors, notes):
    keys = set(otlp) | set(pprof)
    bad = [(k, otlp.get(k, 0), pprof.get(k, 0)) for k in keys
           if otlp.get(k, 0) != pprof.get(k, 0)]
    notes.append("%s: %d stacks, OTLP total %d, pprof total %d, %d differ"
                 % (what, len(keys), sum(otlp.values()),
                    sum(pprof.values()), len(bad)))
    for k, o, p in sorted(bad, key=lambda x: -abs(x[1] - x[2]))[:5]:
        errors.append("%s of %s: OTLP %d, pprof %d"
                      % (what, " <- ".join(k[:4]), o, p))
    if not keys or not sum(otlp.values()):
        errors.append("%s: nothing to compare" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("records")
    ap.add_argument("--grpc", action="store_true")
    ap.add_argument("--cpu-pprof")
    ap.add_argument("--heap-pprof")
    ap.add_argument("--cpu-funcs", default="",
                    help="leaf functions that must have CPU samples")
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--min-requests", type=int, default=1)
    ap.add_argument("--min-age", type=float, default=0.0,
                    help="the in-use profiles must start at least this many "
                    "seconds before the first window (a target started "
                    "before memtel-bpf attached)")
    a = ap.parse_args()
    errors, notes = [], []
    svc = load_schema()
    check_schema(svc, errors)
    if a.records == "schema":
        otlp_wire.report(errors, ["proto/ has the v1.11.0 field numbers"])
    recs = records(a.records, a.grpc)
    if len(recs) < a.min_requests:
        otlp_wire.report(["%d profiles requests, want >= %d"
                          % (len(recs), a.min_requests)])
    cpu = collections.Counter()
    alloc = collections.defaultdict(collections.Counter)
    last_inuse = {}
    kinds = set()
    build_ids = set()
    inuse_starts = set()
    first_window = None
    for where, body, _ in recs:
        msg = svc.ExportProfilesServiceRequest.FromString(body)
        r = Req(where, msg, errors)
        if has_unknown(msg):
            r.err("fields unknown to the v1.11.0 schema")
        r.check_zero()
        for i, m in enumerate(r.d.mapping_table[1:], 1):
            a_ = r.attrs(m.attribute_indices, "mapping %d" % i)
            build_ids |= set(a_) & BUILD_ID_KEYS
            if set(a_) - BUILD_ID_KEYS:
                r.err("mapping %d: attributes %s" % (i, sorted(a_)))
        inuse = collections.defaultdict(collections.Counter)
        window = {}
        for rp in msg.resource_profiles:
            res = {kv.key: kv.value for kv in rp.resource.attributes}
            if a.pid and res["process.pid"].int_value != a.pid:
                r.err("resource process.pid %s" % res.get("process.pid"))
            if not res.get("service.name") or \
                    not res["service.name"].string_value:
                r.err("resource without service.name")
            for sp in rp.scope_profiles:
                for p in sp.profiles:
                    typ = r.s(p.sample_type.type_strindex)
                    kinds.add((typ, r.s(p.sample_type.unit_strindex)))
                    if len(p.profile_id) != 16 or not any(p.profile_id):
                        r.err("profile_id is not 16 non-zero bytes")
                    if not p.time_unix_nano:
                        r.err("%s profile without time_unix_nano" % typ)
                    end = p.time_unix_nano + p.duration_nano
                    window.setdefault(typ, (p.time_unix_nano, end))
                    seen = set()
                    for smp in p.samples:
                        ident = (smp.stack_index,
                                 frozenset(smp.attribute_indices),
                                 smp.link_index)
                        if ident in seen:
                            r.err("%s: two samples with the identity %s "
                                  "(not merged)" % (typ, ident))
                        seen.add(ident)
                        if len(smp.values) != 1 or smp.timestamps_unix_nano:
                            r.err("%s: a sample of another shape: %d "
                                  "values, %d timestamps"
                                  % (typ, len(smp.values),
                                     len(smp.timestamps_unix_nano)))
                            continue
                        sa = r.attrs(smp.attribute_indices, "sample")
                        if set(sa) - SAMPLE_KEYS:
                            r.err("sample attributes %s" % sorted(sa))
                        fr = r.frames(smp.stack_index)
                        if not fr:
                            r.err("sample with an empty stack")
                            continue
                        v = smp.values[0]
                        if typ == "samples":
                            cpu[fr] += v
                        elif typ in ("inuse_space", "inuse_objects"):
                            inuse[fr][typ] += v
                        elif typ in ("alloc_space", "alloc_objects"):
                            alloc[fr][typ] += v
        # the live-heap rule: in-use from the process start to now, the
        # allocations of the window ending at the same time
        if "inuse_space" in window:
            t0, end = window["inuse_space"]
            inuse_starts.add(t0)
            a0, aend = window.get("alloc_space", (None, None))
            if first_window is None:
                first_window = a0
            if aend is not None and (aend != end or t0 > a0):
                r.err("inuse window [%d, %d) vs alloc window [%d, %d)"
                      % (t0, end, a0, aend))
            last_inuse = inuse
    if len(inuse_starts) > 1:
        errors.append("in-use profiles start at %d different times (want "
                      "the process start in every request)"
                      % len(inuse_starts))
    notes.append("%d requests; sample types %s" % (len(recs), sorted(kinds)))
    if inuse_starts and first_window:
        age = (first_window - min(inuse_starts)) / 1e9
        notes.append("in-use profiles start %.3f s before the first window"
                     % age)
        if age < a.min_age:
            errors.append("in-use profiles start %.3f s before the first "
                          "window, not at the process start (>= %.1f s)"
                          % (age, a.min_age))
    elif a.min_age:
        errors.append("no in-use profile to check the start of")
    if a.cpu_pprof:
        want = {("samples", "count"), ("cpu", "nanoseconds")}
        if want - kinds:
            errors.append("sample types missing: %s" % sorted(want - kinds))
        pp = pprof_sites(a.cpu_pprof, {"samples"})
        compare("CPU samples", cpu,
                {k: v["samples"] for k, v in pp.items()}, errors, notes)
        leaf = collections.Counter()
        for fr, v in cpu.items():
            leaf[fr[0]] += v
        tot = sum(leaf.values())
        for fn in filter(None, a.cpu_funcs.split(",")):
            notes.append("  %s: %d samples (%.1f%%)"
                         % (fn, leaf[fn], 100.0 * leaf[fn] / max(tot, 1)))
            if not leaf[fn]:
                errors.append("no CPU samples in %s" % fn)
    if a.heap_pprof:
        want = {("alloc_objects", "count"), ("alloc_space", "bytes"),
                ("inuse_objects", "count"), ("inuse_space", "bytes")}
        if want - kinds:
            errors.append("sample types missing: %s" % sorted(want - kinds))
        pp = pprof_sites(a.heap_pprof, {"alloc_space", "alloc_objects",
                                        "inuse_space", "inuse_objects"})
        for typ in ("alloc_space", "alloc_objects"):
            compare(typ + " (all requests)",
                    {k: v[typ] for k, v in alloc.items() if v[typ]},
                    {k: v[typ] for k, v in pp.items() if v[typ]},
                    errors, notes)
        for typ in ("inuse_space", "inuse_objects"):
            compare(typ + " (last request)",
                    {k: v[typ] for k, v in last_inuse.items() if v[typ]},
                    {k: v[typ] for k, v in pp.items() if v[typ]},
                    errors, notes)
        for k in sorted(BUILD_ID_KEYS - build_ids):
            errors.append("no mapping carries %s" % k)
    otlp_wire.report(errors, notes)


if __name__ == "__main__":
    main()
