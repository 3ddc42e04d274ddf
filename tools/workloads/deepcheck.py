#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Check whole call stacks in memtel-bpf profiles, for the unwind_* tests.

A stack is written leaf first as FRAME arguments:

    [~]FUNCTION[|FUNCTION...][@FILE[:LINE]]

FUNCTION is the exact (demangled) name, or one of several alternatives
separated by "|" (an inlined static C++ function has no linkage name in
DWARF, so "make_blob" is as right as "ns::make_blob(unsigned long)"); FILE matches the end of the file
name in the profile (a path-component suffix: "deepchain.c" matches
"/src/tools/workloads/deepchain.c"); LINE is N or LO-HI. A leading "~" says
the frame is inlined into the next one: both are lines of one pprof
Location. A frame without "~" must be the last line of its Location (the
real, non-inlined function).

The samples checked are those whose leaf is the first FRAME's function, or
with --select FUNC those with FUNC anywhere in the stack. Every one of them
must begin with the expected frames (frames beyond them, such as
__libc_start_call_main below main, are not looked at).

Commands (exit 0 ok, 1 check failed, 2 usage or tool error):
  deepcheck.py stack PROFILE [options] FRAME...
  deepcheck.py chain PROFILE heap|cpu [options] [--no-lines]
      the deepchain workload's stack, lines read from the `LINE:name`
      markers in deepchain.c and libdeep.c (next to this file)
  deepcheck.py markers SOURCE...    print the markers as NAME=LINE
  deepcheck.py mapping PROFILE FILE BUILD_ID
      a mapping whose file ends with FILE carries BUILD_ID
Options of stack and chain:
  --select FUNC     check samples with FUNC anywhere, not by leaf
  --count N         the checked samples' first values sum to exactly N
  --min-share F     ... and are at least F of all samples' first values
Uses tests/lib/pprof_raw.py (`go tool pprof -raw`).
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("MEMTEL_ROOT") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import pprof_raw  # noqa: E402

MARKER_RE = re.compile(r"/\* LINE:(\w+) \*/")


class Frame:
    def __init__(self, spec):
        self.spec = spec
        self.inlined = spec.startswith("~")
        if self.inlined:
            spec = spec[1:]
        self.function, _, where = spec.partition("@")
        self.names = self.function.split("|")
        self.file = None
        self.lines = None
        if where:
            self.file, _, line = where.rpartition(":")
            if not self.file:
                self.file, line = line, ""
            if line:
                lo, _, hi = line.partition("-")
                self.lines = (int(lo), int(hi or lo))
        if not self.function:
            raise ValueError("bad frame %r" % self.spec)

    def matches(self, fn, path, line):
        if fn not in self.names:
            return False
        if self.file is not None:
            if path != self.file and not path.endswith("/" + self.file):
                return False
        if self.lines is not None:
            if not self.lines[0] <= line <= self.lines[1]:
                return False
        return True


def markers(*paths):
    """{name: line} of every `/* LINE:name */` in the files."""
    out = {}
    for path in paths:
        with open(path) as f:
            for no, text in enumerate(f, 1):
                for m in MARKER_RE.finditer(text):
                    if m.group(1) in out:
                        raise ValueError("marker %s twice" % m.group(1))
                    out[m.group(1)] = no
    return out


def deepchain_frames(mode, src_dir, with_lines=True):
    """The expected deepchain stack, leaf first."""
    exe = os.path.join(src_dir, "deepchain.c")
    lib = os.path.join(src_dir, "libdeep.c")
    mk = markers(exe, lib)
    if mode == "heap":
        leaf = "%d" % mk["a6_malloc"]
    else:
        # from the deadline's line: -O2 interleaves its code into the
        # loop, so a sample in the loop may carry that line
        leaf = "%d-%d" % (mk["a6_spin_setup"], mk["a6_spin_end"])
    chain = [("a6", "deepchain.c", leaf),
             ("a5", "deepchain.c", mk["a5_call"]),
             ("lib_b4", "libdeep.c", mk["lib_b4_call"]),
             ("lib_b3", "libdeep.c", mk["lib_b3_call"]),
             ("a2", "deepchain.c", mk["a2_call"]),
             ("a1", "deepchain.c", mk["a1_call"]),
             ("main", "deepchain.c", mk["main_call"])]
    if not with_lines:
        return [Frame(fn) for fn, _, _ in chain]
    return [Frame("%s@%s:%s" % c) for c in chain]


def expand(p, loc_ids):
    """[(function, file, line, location id, last line of its location)]."""
    out = []
    for lid in loc_ids:
        loc = p.locations[lid]
        if not loc["lines"]:
            out.append(("0x%x" % loc["address"], "", 0, lid, True))
            continue
        n = len(loc["lines"])
        for i, (fn, path, line) in enumerate(loc["lines"]):
            out.append((fn, path, line, lid, i == n - 1))
    return out


def show(stack, n=None):
    return " <- ".join("%s%s%s" % (fn, " %s:%d" % (os.path.basename(path), line)
                                   if path else "", "" if last else " [inl]")
                       for fn, path, line, _, last in stack[:n])


def match(expected, stack):
    """None if stack begins with the expected frames, else why not."""
    if len(stack) < len(expected):
        return "only %d frames, expected at least %d" % (len(stack),
                                                          len(expected))
    for i, want in enumerate(expected):
        fn, path, line, lid, last = stack[i]
        if not want.matches(fn, path, line):
            return "frame %d is %s %s:%d, expected %s" % (i, fn, path, line,
                                                          want.spec)
        if want.inlined and (last or stack[i + 1][3] != lid):
            return ("frame %d (%s) should be inlined into frame %d (%s) but "
                    "is the outermost line of its location; the next "
                    "frame is %s" % (i, fn, i + 1, expected[i + 1].spec,
                                     show(stack[i + 1:], 1) or "none"))
        if not want.inlined and not last:
            return ("frame %d (%s) is an inlined frame, expected the "
                    "function itself" % (i, fn))
    return None


def check_stack(path, expected, select=None, count=None, min_share=None):
    """Returns a list of error strings (empty: ok); prints a summary."""
    p = pprof_raw.load(path)
    errors = []
    total = chosen = n = bad = 0
    first_bad = None
    example = None
    for vals, loc_ids, _ in p.samples:
        v = vals[0] if vals else 0
        total += v
        stack = expand(p, loc_ids)
        if select is not None:
            if not any(fr[0] == select for fr in stack):
                continue
        elif not stack or stack[0][0] not in expected[0].names:
            continue
        chosen += v
        n += 1
        why = match(expected, stack)
        if why:
            bad += 1
            if first_bad is None:
                first_bad = (why, stack)
        elif example is None:
            example = stack
    what = select or expected[0].function
    if n == 0:
        leaves = {}
        for vals, loc_ids, _ in p.samples:
            st = expand(p, loc_ids)
            key = show(st, 1) if st else "<empty>"
            leaves[key] = leaves.get(key, 0) + (vals[0] if vals else 0)
        top = sorted(leaves.items(), key=lambda kv: -kv[1])[:8]
        errors.append("no sample with %s %s; leaves by weight: %s" % (
            "frame" if select else "leaf", what,
            ", ".join("%s=%d" % kv for kv in top)))
        return errors
    if bad:
        errors.append("%d of %d samples with %s have a wrong stack: %s\n"
                      "  stack: %s\n  expected: %s" % (
                          bad, n, what, first_bad[0], show(first_bad[1]),
                          " <- ".join(f.spec for f in expected)))
    if count is not None and chosen != count:
        errors.append("samples with %s sum to %d, expected %d"
                      % (what, chosen, count))
    if min_share is not None and (not total or chosen / total < min_share):
        errors.append("samples with %s are %d of %d (%.0f%%), expected at "
                      "least %.0f%%" % (what, chosen, total,
                                        100.0 * chosen / max(total, 1),
                                        100 * min_share))
    if example is not None:
        print("# %d samples (value %d of %d) with %s; e.g. %s" % (
            n, chosen, total, what, show(example)))
    return errors


def check_mapping(path, name, build_id):
    p = pprof_raw.load(path)
    for line in p.mappings.values():
        fields = line.split()
        files = [f for f in fields if f.endswith("/" + name) or f == name]
        if files:
            if build_id.lower() in (f.lower() for f in fields):
                print("# mapping: %s" % line)
                return []
    return ["no mapping of %s with build ID %s; mappings:\n  %s" % (
        name, build_id, "\n  ".join(p.mappings.values()))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd")
    for name in ("stack", "chain"):
        s = sub.add_parser(name)
        s.add_argument("profile")
        if name == "stack":
            s.add_argument("frames", nargs="+")
        else:
            s.add_argument("mode", choices=("heap", "cpu"))
            s.add_argument("--no-lines", action="store_true")
            s.add_argument("--src", default=HERE)
        s.add_argument("--select")
        s.add_argument("--count", type=int)
        s.add_argument("--min-share", type=float)
    s = sub.add_parser("markers")
    s.add_argument("sources", nargs="+")
    s = sub.add_parser("mapping")
    s.add_argument("profile")
    s.add_argument("file")
    s.add_argument("build_id")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "markers":
            for k, v in sorted(markers(*args.sources).items()):
                print("%s=%d" % (k, v))
            return 0
        if args.cmd == "mapping":
            errors = check_mapping(args.profile, args.file, args.build_id)
        elif args.cmd in ("stack", "chain"):
            if args.cmd == "stack":
                expected = [Frame(f) for f in args.frames]
            else:
                expected = deepchain_frames(args.mode, args.src,
                                            not args.no_lines)
            errors = check_stack(args.profile, expected, args.select,
                                 args.count, args.min_share)
        else:
            ap.print_help(sys.stderr)
            return 2
    except (pprof_raw.ToolError, OSError, ValueError, KeyError) as e:
        print("deepcheck: %s" % e, file=sys.stderr)
        return 2
    for e in errors:
        print("FAIL: %s" % e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
