#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""cputime_poller.py PARENT_PID OUT - find PARENT_PID's launched child (the
profiler's -- COMMAND) and record each of its threads' CPU time
(schedstat, else utime+stime) every 50 ms until it is gone; writes
"tid ns" lines to OUT. The CPU tests compare sample counts with it."""
import os, sys, time
parent, out = sys.argv[1], sys.argv[2]
tck = os.sysconf("SC_CLK_TCK")

def children(pid):
    kids = []
    try:
        for t in os.listdir("/proc/%s/task" % pid):
            with open("/proc/%s/task/%s/children" % (pid, t)) as f:
                kids += f.read().split()
    except OSError:
        pass
    return kids

def cpu_ns(pid, tid):
    base = "/proc/%s/task/%s/" % (pid, tid)
    try:
        with open(base + "schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(base + "stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        return (int(st[11]) + int(st[12])) * 1000000000 // tck
    except (OSError, ValueError, IndexError):
        return None

def save(last):
    with open(out + ".tmp", "w") as f:
        for tid, ns in sorted(last.items()):
            f.write("%s %d\n" % (tid, ns))
    os.rename(out + ".tmp", out)

deadline = time.time() + 60
kids = []
while not kids and time.time() < deadline and os.path.exists("/proc/" + parent):
    kids = children(parent)
    time.sleep(0.01)
if not kids:
    sys.exit("no child of %s found" % parent)
pid, last = kids[0], {}
while os.path.exists("/proc/" + pid):
    try:
        tids = os.listdir("/proc/%s/task" % pid)
    except OSError:
        break
    for tid in tids:
        ns = cpu_ns(pid, tid)
        if ns is not None and ns >= last.get(tid, 0):
            last[tid] = ns
    save(last)
    time.sleep(0.05)
print("pid", pid)
