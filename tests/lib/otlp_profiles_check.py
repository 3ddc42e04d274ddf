#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""otlp_profiles_check.py - read memtel-bpf's OTLP profiles back without its
code and compare them with the pprof files of the same run.

  otlp_profiles_check.py REQUESTS.jsonl PPROF_RAW_CPU.json PPROF_HEAP.json
                         [--cpu-funcs a,b] [--heap-funcs x,y]

Requests come from otlp_receiver.py (path /v1development/profiles). Each
body is decoded with otlp_wire's schema-less protobuf reader and mapped by
field number as opentelemetry-proto v1.8.0 defines them
(collector/profiles/v1development/profiles_service.proto,
profiles/v1development/profiles.proto):
  ExportProfilesServiceRequest: resource_profiles=1, dictionary=2
  ProfilesDictionary: mapping_table=1 location_table=2 function_table=3
    link_table=4 string_table=5 attribute_table=6 stack_table=7
  ResourceProfiles: resource=1 scope_profiles=2; ScopeProfiles: scope=1
    profiles=2; Profile: sample_type=1 sample=2 time_unix_nano=3 (fixed64)
    duration_nano=4 period_type=5 period=6 profile_id=8
  ValueType: type_strindex=1 unit_strindex=2 aggregation_temporality=3
  Sample: stack_index=1 values=2 (packed) attribute_indices=3
  Mapping: memory_start=1 memory_limit=2 file_offset=3 filename_strindex=4
    attribute_indices=5; Stack: location_indices=1 (packed)
  Location: mapping_index=1 address=2 line=3 attribute_indices=4
  Line: function_index=1 line=2; Function: name_strindex=1
  KeyValueAndUnit: key_strindex=1 value=2 (AnyValue: string=1 int=3)
The PPROF_*.json files are summaries from pprof_raw.py (go tool pprof -raw).
Checks: zero-value rules, every stack resolving to known functions, CPU
sample shares and heap bytes per leaf function agreeing with pprof, build
IDs on mappings, frame types, one Profile per sample type.
"""
import argparse
import collections
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otlp_wire  # noqa: E402

LEN, VARINT, I64 = otlp_wire.WT_LEN, otlp_wire.WT_VARINT, otlp_wire.WT_I64


def fmap(buf):
    m = collections.defaultdict(list)
    for num, wt, val in otlp_wire.fields(buf):
        m[num].append((wt, val))
    return m


def packed_varints(items):
    out = []
    for wt, val in items:
        if wt == VARINT:
            out.append(val)
        else:
            i = 0
            while i < len(val):
                v, i = otlp_wire._varint(val, i)
                out.append(v)
    return out


def s64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def one(m, num, default=0):
    return m[num][-1][1] if m.get(num) else default


def anyvalue(buf):
    m = fmap(buf)
    if 1 in m:
        return m[1][-1][1].decode()
    if 3 in m:
        return s64(m[3][-1][1])
    return None


def decode(body):
    req = fmap(body)
    d = fmap(one(req, 2, b""))
    strings = [v.decode() for _, v in d[5]]
    tab = lambda n: [fmap(v) for _, v in d[n]]
    dic = {"mapping": tab(1), "location": tab(2), "function": tab(3),
           "link": tab(4), "attribute": tab(6), "stack": tab(7),
           "string": strings}
    procs = []
    for _, rp in req[1]:
        rpm = fmap(rp)
        res = fmap(one(rpm, 1, b""))
        attrs = {}
        for _, kv in res[1]:
            k = fmap(kv)
            attrs[one(k, 1, b"").decode()] = anyvalue(one(k, 2, b""))
        profiles = []
        for _, sp in rpm[2]:
            for _, p in fmap(sp)[2]:
                profiles.append(fmap(p))
        procs.append((attrs, profiles))
    return dic, procs


def attr_kv(dic, idx):
    a = dic["attribute"][idx]
    return dic["string"][one(a, 1)], anyvalue(one(a, 2, b""))


def check_zero(dic, errors, where):
    if not dic["string"] or dic["string"][0] != "":
        errors.append(f"{where}: string_table[0] is not \"\"")
    for name in ("mapping", "location", "function", "link", "attribute",
                 "stack"):
        t = dic[name]
        if not t:
            errors.append(f"{where}: {name}_table is empty (no zero entry)")
        elif any(t[0].values()):
            errors.append(f"{where}: {name}_table[0] is not the zero value")


def stack_funcs(dic, sidx, errors, where):
    """Function names of a stack, leaf first (inline lines innermost
    first, as the location's lines are ordered)."""
    if sidx <= 0 or sidx >= len(dic["stack"]):
        errors.append(f"{where}: stack index {sidx} out of range")
        return []
    names = []
    for li in packed_varints(dic["stack"][sidx][1]):
        if li <= 0 or li >= len(dic["location"]):
            errors.append(f"{where}: location index {li} out of range")
            continue
        loc = dic["location"][li]
        mi = one(loc, 1)
        if mi >= len(dic["mapping"]):
            errors.append(f"{where}: mapping index {mi} out of range")
        types = [attr_kv(dic, a) for a in packed_varints(loc.get(4, []))]
        if not any(k == "profile.frame.type" and v in ("native", "kernel")
                   for k, v in types):
            errors.append(f"{where}: location {li} has no profile.frame.type")
        if not loc.get(3):
            # not symbolized (JIT without a map, a vanished file): pprof
            # shows the address too
            names.append("0x%x" % one(loc, 2))
        for _, ln in loc.get(3, []):
            fi = one(fmap(ln), 1)
            if fi <= 0 or fi >= len(dic["function"]):
                errors.append(f"{where}: function index {fi} out of range")
                continue
            names.append(dic["string"][one(dic["function"][fi], 1)])
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("requests")
    ap.add_argument("cpu_pprof")
    ap.add_argument("heap_pprof")
    ap.add_argument("--cpu-funcs", default="")
    ap.add_argument("--heap-funcs", default="")
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--allow-missing-heap", action="store_true",
                    help="a CPU-only run: no heap sample types expected")
    a = ap.parse_args()
    errors, notes = [], []
    reqs = [r for r in otlp_wire.load_records(a.requests)
            if r["path"] == "/v1development/profiles"]
    if not reqs:
        otlp_wire.report(["no request reached /v1development/profiles"])
    cpu = collections.Counter()
    heap_alloc = collections.Counter()
    last_inuse = None
    kinds_seen = set()
    build_ids = set()
    for n, r in enumerate(reqs):
        where = f"request {n + 1}"
        if r["headers_lc"].get("content-type") != "application/x-protobuf":
            errors.append(f"{where}: content-type {r['headers_lc'].get('content-type')}")
        dic, procs = decode(r["decoded"])
        check_zero(dic, errors, where)
        for m in dic["mapping"][1:]:
            for ai in packed_varints(m.get(5, [])):
                k, v = attr_kv(dic, ai)
                if k.startswith("process.executable.build_id."):
                    build_ids.add(k)
        inuse_here = collections.Counter()
        for attrs, profiles in procs:
            if a.pid and attrs.get("process.pid") != a.pid:
                errors.append(f"{where}: resource process.pid {attrs.get('process.pid')} != {a.pid}")
            if not str(attrs.get("service.name", "")):
                errors.append(f"{where}: resource without service.name")
            for p in profiles:
                st = fmap(one(p, 1, b""))
                typ = dic["string"][one(st, 1)]
                unit = dic["string"][one(st, 2)]
                kinds_seen.add((typ, unit))
                pid_ = one(p, 8, b"")
                if len(pid_) != 16 or not any(pid_):
                    errors.append(f"{where}: profile_id is not 16 non-zero bytes")
                if not one(p, 3):
                    errors.append(f"{where}: profile without time_unix_nano")
                for _, sbuf in p.get(2, []):
                    s = fmap(sbuf)
                    vals = [s64(v) for v in packed_varints(s.get(2, []))]
                    if len(vals) != 1:
                        errors.append(f"{where}: sample with {len(vals)} values (one sample type per profile)")
                        continue
                    names = stack_funcs(dic, one(s, 1), errors, where)
                    if not names:
                        errors.append(f"{where}: sample with an empty stack")
                        continue
                    leaf = names[0]
                    if typ == "samples":
                        cpu[leaf] += vals[0]
                    elif typ == "alloc_space":
                        heap_alloc[leaf] += vals[0]
                    elif typ == "inuse_space":
                        inuse_here[leaf] += vals[0]
        if any(t == "inuse_space" for t, _ in kinds_seen):
            last_inuse = inuse_here
    want = {("samples", "count"), ("cpu", "nanoseconds")}
    if not a.allow_missing_heap:
        want |= {("alloc_objects", "count"), ("alloc_space", "bytes"),
                 ("inuse_objects", "count"), ("inuse_space", "bytes")}
    if want - kinds_seen:
        errors.append(f"sample types missing: {sorted(want - kinds_seen)}")
    for k in ("process.executable.build_id.gnu",
              "process.executable.build_id.htlhash"):
        if k not in build_ids:
            errors.append(f"no mapping carries {k}")

    with open(a.cpu_pprof) as f:
        pcpu = json.load(f)
    with open(a.heap_pprof) as f:
        pheap = json.load(f)
    # CPU: shares per leaf function agree with pprof's (same samples)
    tot_o = sum(cpu.values())
    tot_p = sum(v["samples"] for v in pcpu.values())
    notes.append(f"CPU samples: OTLP {tot_o}, pprof {tot_p}")
    if tot_o != tot_p:
        errors.append(f"CPU sample totals differ: OTLP {tot_o} vs pprof {tot_p}")
    for fn in filter(None, a.cpu_funcs.split(",")):
        o = cpu.get(fn, 0)
        p = pcpu.get(fn, {}).get("samples", 0)
        notes.append(f"  {fn}: OTLP {o} ({100.0 * o / max(tot_o, 1):.1f}%), pprof {p}")
        if o != p or not o:
            errors.append(f"CPU samples of {fn}: OTLP {o} vs pprof {p}")
    for fn in filter(None, a.heap_funcs.split(",")):
        o = heap_alloc.get(fn, 0)
        p = pheap.get(fn, {}).get("alloc_space", 0)
        notes.append(f"  {fn}: alloc_space OTLP {o}, pprof {p}")
        if o != p or not o:
            errors.append(f"alloc_space of {fn}: OTLP {o} vs pprof {p}")
        if last_inuse is not None:
            o = last_inuse.get(fn, 0)
            p = pheap.get(fn, {}).get("inuse_space", 0)
            if o != p:
                errors.append(f"inuse_space of {fn} in the last request: OTLP {o} vs pprof {p}")
    otlp_wire.report(errors, notes)


if __name__ == "__main__":
    main()
