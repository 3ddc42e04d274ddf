#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Read pprof profiles back through `go tool pprof -raw` for the tests.

`-raw` prints profile.Profile.String() (github.com/google/pprof,
profile/profile.go): a header, "Samples:" with one line of sample types and
one line per sample (values, then location ids leaf first), "Locations" with
one line per inlined frame (innermost first), and "Mappings". We parse that
text rather than the protobuf so the tests see exactly what pprof sees.
Symbolization is turned off (-symbolize=none): the names checked are the ones
memtel-bpf wrote, not ones pprof found later in local binaries.

Library use: load(path) -> Profile; Profile.by_leaf(), Profile.stacks().
Command line (exit 0 ok, 1 check failed, 2 usage/tool error):
  pprof_raw.py summary PROFILE              per-leaf sums and stacks as JSON
  pprof_raw.py by-pid PROFILE               "PID LEAF VALUE..." per pid label
  pprof_raw.py check-exact PROFILE EXPECT   every site's 4 values exact
  pprof_raw.py check-approx PROFILE EXPECT [--tolerance 0.15]
  pprof_raw.py selftest                     parse a hand-written profile
  pprof_raw.py pprof ARG...                 run `go tool pprof ARG...`
EXPECT is the JSON `heapsites --expect` prints. Standard library only.
"""

import argparse
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The sample types memtel-bpf must write, in this order.
HEAP_SAMPLE_TYPES = [
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
]

# A heap sample's leaf must be the allocator's caller, never the allocator.
ALLOCATOR_RE = re.compile(
    r"^(__GI_)?(__libc_|_int_|__)?(malloc|calloc|realloc|reallocarray|free|"
    r"posix_memalign|aligned_alloc|memalign|_mid_memalign|valloc|pvalloc|"
    r"libc_malloc|libc_calloc|libc_realloc|libc_free|libc_memalign|"
    r"libc_valloc|libc_pvalloc|libc_reallocarray)$")


class ToolError(Exception):
    """go tool pprof could not be run or its output not be parsed."""


class Profile:
    """A parsed `pprof -raw` dump.

    sample_types: [(type, unit)]; default_type: type name or None;
    samples: [(values, [location ids], [label lines])];
    locations: {id: {"address": int, "mapping": id or None, "lines":
    [(function, file, line)]}}, lines innermost first;
    mappings: {id: raw line}; header: {key: value} (Period, PeriodType, ...).
    """

    def __init__(self):
        self.header = {}
        self.comments = []
        self.sample_types = []
        self.default_type = None
        self.samples = []
        self.locations = {}
        self.mappings = {}

    def type_names(self):
        return [t for t, _ in self.sample_types]

    def frames(self, loc_ids):
        """Function names of a stack, leaf first, inlined frames expanded."""
        out = []
        for lid in loc_ids:
            loc = self.locations.get(lid)
            if loc is None:
                raise ToolError("sample refers to unknown location %d" % lid)
            if not loc["lines"]:
                out.append("0x%x" % loc["address"])
            for fn, _, _ in loc["lines"]:
                out.append(fn)
        return out

    def stacks(self):
        """[(values, [function names leaf first])] for every sample."""
        return [(vals, self.frames(locs)) for vals, locs, _ in self.samples]

    def by_leaf(self):
        """{leaf function: [summed value per sample type]}."""
        sums = {}
        for vals, frames in self.stacks():
            leaf = frames[0] if frames else "<empty>"
            acc = sums.setdefault(leaf, [0] * len(self.sample_types))
            for i, v in enumerate(vals):
                acc[i] += v
        return sums

    def by_leaf_named(self):
        """{leaf function: {sample type: summed value}}."""
        names = self.type_names()
        return {leaf: dict(zip(names, vals))
                for leaf, vals in self.by_leaf().items()}


# --- parsing ------------------------------------------------------------------

_SAMPLE_RE = re.compile(r"^((?:\s+-?\d+)+): ?((?:\d+ ?)*)$")
_LOC_RE = re.compile(r"^\s*(\d+): (0x[0-9a-fA-F]+) (?:M=(\d+) )?(?:\[F\] )?(.*)$")
# "name file:line s=start" plus "(system name)" when it differs; the name is
# empty for a function known only by file and line.
_LINE_RE = re.compile(r"^(?:(?P<name>.*) )?(?P<file>\S*):(?P<line>-?\d+) "
                      r"s=(?P<start>-?\d+)(?:\((?P<sys>.*)\))?$")
_MAP_RE = re.compile(r"^\s*(\d+): (0x[0-9a-fA-F]+)/(0x[0-9a-fA-F]+)/"
                     r"(0x[0-9a-fA-F]+) ?(.*)$")


def _parse_line_str(s):
    s = s.strip()
    if s == "??" or not s:
        return ("??", "", 0)
    m = _LINE_RE.match(s)
    if not m:
        raise ToolError("cannot parse location line %r" % s)
    return (m.group("name") or "", m.group("file"), int(m.group("line")))


def parse_raw(text):
    """Parse the text of `go tool pprof -raw` into a Profile."""
    p = Profile()
    section = "header"
    last_loc = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if section == "header":
            if line == "Samples:":
                section = "types"
            elif line.startswith("Comment: "):
                p.comments.append(line[len("Comment: "):])
            elif ": " in line:
                k, v = line.split(": ", 1)
                p.header[k] = v
            continue
        if section == "types":
            for tok in line.split():
                if tok.endswith("[dflt]"):
                    tok = tok[:-len("[dflt]")]
                    p.default_type = tok.split("/", 1)[0]
                t, _, u = tok.partition("/")
                p.sample_types.append((t, u))
            section = "samples"
            continue
        if section == "samples":
            if line == "Locations":
                section = "locations"
                continue
            m = _SAMPLE_RE.match(line)
            if m:
                vals = [int(v) for v in m.group(1).split()]
                locs = [int(v) for v in m.group(2).split()]
                if len(vals) != len(p.sample_types):
                    raise ToolError("sample with %d values, %d types: %r"
                                    % (len(vals), len(p.sample_types), line))
                p.samples.append((vals, locs, []))
            elif line.strip() and p.samples:
                p.samples[-1][2].append(line.strip())  # label line
            elif line.strip():
                raise ToolError("unexpected line in samples: %r" % line)
            continue
        if section == "locations":
            if line == "Mappings":
                section = "mappings"
                continue
            m = _LOC_RE.match(line)
            if m:
                lid = int(m.group(1))
                last_loc = {"address": int(m.group(2), 16),
                            "mapping": int(m.group(3)) if m.group(3) else None,
                            "lines": []}
                p.locations[lid] = last_loc
                if m.group(4).strip():
                    last_loc["lines"].append(_parse_line_str(m.group(4)))
            elif line.strip() and last_loc is not None:
                last_loc["lines"].append(_parse_line_str(line))
            elif line.strip():
                raise ToolError("unexpected line in locations: %r" % line)
            continue
        if section == "mappings":
            m = _MAP_RE.match(line)
            if m:
                p.mappings[int(m.group(1))] = line.strip()
            continue
    if section not in ("locations", "mappings"):
        raise ToolError("pprof -raw output ended early (in %s)" % section)
    return p


# --- running pprof ------------------------------------------------------------

def go_binary():
    """Path of the go tool, or None."""
    go = os.environ.get("MEMTEL_GO") or shutil.which("go")
    if not go:
        for cand in ("/usr/lib/go/bin/go", "/usr/local/go/bin/go"):
            if os.access(cand, os.X_OK):
                go = cand
                break
    return go


def run_pprof(args, timeout=120):
    """Run `go tool pprof ARGS` with a throwaway HOME; returns stdout.
    pprof keeps state under $HOME/pprof, which must not leak between runs."""
    go = go_binary()
    if not go:
        raise ToolError("go not found (install golang-go)")
    with tempfile.TemporaryDirectory(prefix="memtel-pprof-home.") as home:
        env = dict(os.environ, HOME=home, PPROF_TMPDIR=home,
                   GOCACHE=os.path.join(home, "gocache"),
                   GOPATH=os.path.join(home, "gopath"))
        proc = subprocess.run([go, "tool", "pprof"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=timeout,
                              universal_newlines=True)
    if proc.returncode != 0:
        raise ToolError("go tool pprof %s failed (exit %d): %s"
                        % (" ".join(args), proc.returncode,
                           proc.stderr.strip()))
    return proc.stdout


def load(path):
    """Parse the profile at path through `go tool pprof -raw`."""
    return parse_raw(run_pprof(["-raw", "-symbolize=none", path]))


# --- checks -------------------------------------------------------------------

def _fail(errors, msg):
    errors.append(msg)


def check_sample_types(p, errors):
    if p.sample_types != HEAP_SAMPLE_TYPES:
        _fail(errors, "sample types are %s, expected %s" % (
            " ".join("%s/%s" % t for t in p.sample_types),
            " ".join("%s/%s" % t for t in HEAP_SAMPLE_TYPES)))
        return False
    return True


def check_leaves(p, errors):
    """No sample may have an allocator function as its leaf."""
    bad = {}
    for vals, frames in p.stacks():
        if frames and ALLOCATOR_RE.match(frames[0]):
            bad.setdefault(frames[0], [0] * len(vals))
            for i, v in enumerate(vals):
                bad[frames[0]][i] += v
    for leaf, vals in sorted(bad.items()):
        _fail(errors, "samples with the allocator %s as leaf frame "
              "(values %s); the leaf must be its caller" % (leaf, vals))


def check_callers(p, sites, caller, root, errors):
    """Every sample of each site must have `caller` as second frame and
    `root` somewhere below it."""
    for vals, frames in p.stacks():
        if not frames or frames[0] not in sites:
            continue
        if len(frames) < 2 or frames[1] != caller or root not in frames[2:]:
            _fail(errors, "%s: stack %s, expected %s <- %s <- ... <- %s"
                  % (frames[0], " <- ".join(frames), frames[0], caller,
                     root))
            return  # one example is enough


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  " + "  ".join(str(c).rjust(w) if j else str(c).ljust(w)
                                      for j, (c, w) in enumerate(zip(r, widths)))
                     for r in rows)


def check_exact(p, expect, errors):
    if not check_sample_types(p, errors):
        return
    got = p.by_leaf_named()
    names = p.type_names()
    rows = [("site", "value", "expected", "got")]
    for site, exp in sorted(expect["sites"].items()):
        act = got.get(site)
        for t in names:
            g = act[t] if act else "(no samples)"
            if g != exp[t]:
                rows.append((site, t, exp[t], g))
    if len(rows) > 1:
        _fail(errors, "per-site totals differ:\n" + _table(rows))
    check_leaves(p, errors)
    caller = "run_gib" if expect.get("mode") == "gib" else "run_exact"
    check_callers(p, set(expect["sites"]), caller, "main", errors)


def check_approx(p, expect, tolerance, errors, out=sys.stdout):
    """alloc_space (and inuse_space where something stays live) within
    tolerance of the truth; inuse exactly 0 where everything was freed."""
    if not check_sample_types(p, errors):
        return
    got = p.by_leaf_named()
    rows = [("site", "value", "expected", "got", "error")]
    bad = False
    for site, exp in sorted(expect["sites"].items()):
        act = got.get(site, {})
        for t in ("alloc_space", "inuse_space"):
            want, have = exp[t], act.get(t, 0)
            if want == 0:
                err = 0.0 if have == 0 else float("inf")
            else:
                err = (have - want) / want
            ok = abs(err) <= tolerance if want else have == 0
            if t == "alloc_space" or want or have:
                rows.append((site, t, want, have, "%+.1f%%%s" % (
                    100 * err, "" if ok else "  <-- FAIL")))
            bad |= not ok
    print(_table(rows), file=out)
    if bad:
        _fail(errors, "estimates outside +-%.0f%% (or in-use of freed blocks "
              "not 0)" % (100 * tolerance))
    check_leaves(p, errors)


# --- a minimal profile.proto writer, for selftest -----------------------------

def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_varint(num, v):
    return _varint(num << 3) + _varint(v)


def _field_bytes(num, b):
    return _varint(num << 3 | 2) + _varint(len(b)) + b


def _packed(num, vals):
    return _field_bytes(num, b"".join(_varint(v) for v in vals))


class ProfileWriter:
    """Just enough of profile.proto to write test profiles by hand."""

    def __init__(self):
        self.strings = [""]
        self.body = bytearray()
        self.fn_ids = {}
        self.loc_ids = {}

    def s(self, text):
        if text not in self.strings:
            self.strings.append(text)
        return self.strings.index(text)

    def sample_type(self, t, u):
        self.body += _field_bytes(1, _field_varint(1, self.s(t)) +
                                  _field_varint(2, self.s(u)))

    def mapping(self, mid, start, limit, filename):
        self.body += _field_bytes(3, _field_varint(1, mid) +
                                  _field_varint(2, start) +
                                  _field_varint(3, limit) +
                                  _field_varint(5, self.s(filename)) +
                                  _field_varint(7, 1) + _field_varint(8, 1) +
                                  _field_varint(9, 1))

    def function(self, name, filename="", system_name=None):
        if name not in self.fn_ids:
            fid = len(self.fn_ids) + 1
            self.fn_ids[name] = fid
            self.body += _field_bytes(5, _field_varint(1, fid) +
                                      _field_varint(2, self.s(name)) +
                                      _field_varint(3, self.s(system_name or name)) +
                                      _field_varint(4, self.s(filename)) +
                                      _field_varint(5, 1))
        return self.fn_ids[name]

    def location(self, address, funcs, mapping=1):
        """funcs: [(name, line)], innermost first; [] for unsymbolized."""
        lid = len(self.loc_ids) + 1
        self.loc_ids[address] = lid
        msg = _field_varint(1, lid) + _field_varint(2, mapping) + \
            _field_varint(3, address)
        for name, line in funcs:
            sysname = "_Z3%s" % name if name.startswith("cxx_") else None
            fid = self.function(name, "t.c", sysname)
            msg += _field_bytes(4, _field_varint(1, fid) +
                                _field_varint(2, line))
        self.body += _field_bytes(4, msg)
        return lid

    def sample(self, locs, values, labels=()):
        msg = _packed(1, locs) + _packed(2, values)
        for k, v in labels:
            msg += _field_bytes(3, _field_varint(1, self.s(k)) +
                                _field_varint(2, self.s(v)))
        self.body += _field_bytes(2, msg)

    def write(self, path, period=524288):
        body = bytes(self.body) + _field_bytes(11, _field_varint(1, self.s("space")) +
                                               _field_varint(2, self.s("bytes")))
        body += _field_varint(12, period)
        body += _field_varint(14, self.s("inuse_space"))
        for st in self.strings:
            body += _field_bytes(6, st.encode())
        with gzip.open(path, "wb") as f:
            f.write(body)


def selftest():
    """Write a profile by hand, read it back through pprof, compare."""
    w = ProfileWriter()
    for t, u in HEAP_SAMPLE_TYPES:
        w.sample_type(t, u)
    w.mapping(1, 0x400000, 0x500000, "/bin/heapsites")
    main = w.location(0x401000, [("main", 10)])
    run = w.location(0x401100, [("run_exact", 20)])
    leak = w.location(0x401200, [("leak_site", 30)])
    # an inlined frame: helper inlined into churn_site at one address
    churn = w.location(0x401300, [("helper", 40), ("churn_site", 41)])
    cxx = w.location(0x401400, [("cxx_new", 50)])
    unsym = w.location(0x7f0000001000, [])
    mall = w.location(0x7f0000002000, [("malloc", 1)])
    anon = w.location(0x401500, [("", 60)])
    w.sample([leak, run, main], [60, 60000, 60, 60000], [("thread", "t 1")])
    w.sample([leak, run, main], [40, 40000, 40, 40000])
    w.sample([churn, run, main], [500, 1500000, 0, 0])
    w.sample([cxx, unsym, main], [1, 8, 1, 8])
    w.sample([mall, leak, run, main], [3, 7, 5, 11])
    w.sample([leak, main], [0, 0, 0, 0])  # all-zero: pprof drops it
    w.sample([anon, main], [2, 2, 2, 2])
    errors = []
    with tempfile.TemporaryDirectory(prefix="memtel-selftest.") as d:
        path = os.path.join(d, "heap.pb.gz")
        w.write(path)
        p = load(path)
        for args in (["-top"], ["-traces"]):
            run_pprof(args + ["-symbolize=none", path])

    def expect(cond, what):
        if not cond:
            errors.append(what)

    expect(p.sample_types == HEAP_SAMPLE_TYPES, "types %s" % p.sample_types)
    expect(p.default_type == "inuse_space", "default %s" % p.default_type)
    expect(p.header.get("Period") == "524288", "header %s" % p.header)
    leaves = p.by_leaf()
    want = {"leak_site": [100, 100000, 100, 100000],
            "helper": [500, 1500000, 0, 0],
            "cxx_new": [1, 8, 1, 8],
            "malloc": [3, 7, 5, 11],
            "": [2, 2, 2, 2]}
    expect(leaves == want, "by_leaf %s != %s" % (leaves, want))
    stacks = sorted(fr for _, fr in p.stacks())
    expect(["helper", "churn_site", "run_exact", "main"] in stacks,
           "inlined stack missing: %s" % stacks)
    expect(["cxx_new", "0x7f0000001000", "main"] in stacks,
           "unsymbolized stack missing: %s" % stacks)
    expect(any(lbl for _, _, lbl in p.samples), "labels lost")

    # The checkers must flag what they are meant to flag.
    exp = {"mode": "exact", "sites": {
        "leak_site": {"alloc_objects": 100, "alloc_space": 100000,
                      "inuse_objects": 100, "inuse_space": 100000}}}
    errs = []
    check_exact(p, exp, errs)
    expect(len(errs) == 1 and "malloc" in errs[0],
           "check_exact should only flag the malloc leaf: %s" % errs)
    exp["sites"]["leak_site"]["inuse_space"] = 99999
    exp["sites"]["churn_site"] = {"alloc_objects": 500, "alloc_space": 1500000,
                                  "inuse_objects": 0, "inuse_space": 0}
    errs = []
    check_exact(p, exp, errs)
    expect(any("99999" in e and "churn_site" in e for e in errs),
           "check_exact missed wrong totals: %s" % errs)
    errs = []
    exp["sites"] = {"leak_site": {"alloc_space": 90000, "inuse_space": 110000}}
    check_approx(p, exp, 0.15, errs, out=io.StringIO())
    expect(not any("outside" in e for e in errs),
           "check_approx rejected values within 15%%: %s" % errs)
    exp["sites"]["leak_site"]["alloc_space"] = 80000
    errs = []
    check_approx(p, exp, 0.15, errs, out=io.StringIO())
    expect(any("outside" in e for e in errs),
           "check_approx accepted 25%% off: %s" % errs)
    return errors


# --- command line -------------------------------------------------------------

_PID_LABEL_RE = re.compile(r"(?:^|\s)pid:\[(\d+)\]")


def by_pid_leaf(p):
    """{(pid label or 0, leaf function): [summed value per sample type]}."""
    sums = {}
    for vals, locs, labels in p.samples:
        pid = 0
        for lbl in labels:
            m = _PID_LABEL_RE.search(lbl)
            if m:
                pid = int(m.group(1))
        frames = p.frames(locs)
        key = (pid, frames[0] if frames else "<empty>")
        acc = sums.setdefault(key, [0] * len(p.sample_types))
        for i, v in enumerate(vals):
            acc[i] += v
    return sums


def _load_expect(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
    raise ToolError("no JSON object in %s" % path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    s = sub.add_parser("summary")
    s.add_argument("profile")
    s = sub.add_parser("by-pid")
    s.add_argument("profile")
    s = sub.add_parser("check-exact")
    s.add_argument("profile")
    s.add_argument("expect")
    s = sub.add_parser("check-approx")
    s.add_argument("profile")
    s.add_argument("expect")
    s.add_argument("--tolerance", type=float, default=0.15)
    sub.add_parser("selftest")
    sub.add_parser("pprof", help="run go tool pprof with the given args")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pprof"]:
        # pprof's single-dash options would confuse argparse
        try:
            sys.stdout.write(run_pprof(argv[1:]))
        except (ToolError, OSError, subprocess.SubprocessError) as e:
            print("pprof_raw: %s" % e, file=sys.stderr)
            return 1
        return 0
    args = ap.parse_args(argv)
    try:
        if args.cmd == "summary":
            p = load(args.profile)
            json.dump({"sample_types": ["%s/%s" % t for t in p.sample_types],
                       "by_leaf": p.by_leaf_named(),
                       "stacks": [{"values": v, "frames": f}
                                  for v, f in p.stacks()]},
                      sys.stdout, indent=1)
            print()
            return 0
        if args.cmd == "by-pid":
            for (pid, leaf), vals in sorted(by_pid_leaf(load(args.profile)).items()):
                print(pid, leaf, *vals)
            return 0
        if args.cmd == "selftest":
            errors = selftest()
        elif args.cmd in ("check-exact", "check-approx"):
            expect = _load_expect(args.expect)
            p = load(args.profile)
            errors = []
            if args.cmd == "check-exact":
                check_exact(p, expect, errors)
            else:
                check_approx(p, expect, args.tolerance, errors)
        else:
            ap.print_help(sys.stderr)
            return 2
    except (ToolError, OSError, ValueError, subprocess.SubprocessError) as e:
        print("pprof_raw: %s" % e, file=sys.stderr)
        return 2
    for e in errors:
        print("FAIL: %s" % e)
    if not errors:
        print("%s: ok" % args.cmd)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
