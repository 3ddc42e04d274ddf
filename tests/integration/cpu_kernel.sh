#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Kernel frames in CPU stacks. cpu_syscalls spends most of its time in the
# kernel, reading /dev/zero and calling getppid() from syscall_loop().
# By default the stacks go on into the kernel below syscall_loop: `_[k]`
# frames in cpu.folded, locations in the [kernel.kallsyms] mapping in
# cpu.pb.gz, always leaf-ward of every user frame. With --no-kernel there
# are no kernel frames at all, yet the time spent in the kernel is still
# sampled, charged to the user code that made the syscall.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

WL=$MEMTEL_WL_DIR/cpu_syscalls
[ -x "$WL" ] || fail "workloads not built: $WL (make workloads)"

# check MODE DIR N: MODE is kernel or no-kernel; N the summary's count.
check() {
	python3 - "$MEMTEL_ROOT/tests/lib" "$@" >"$W/check-$1.txt" 2>&1 <<'EOF'
import re, sys
sys.path.insert(0, sys.argv[1])
import pprof_raw

mode, d, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
want_kernel = mode == "kernel"
errors = []

# cpu.folded: root first, kernel frames suffixed _[k]
total = under = with_k = 0
with open(d + "/cpu.folded") as f:
    for i, line in enumerate(f, 1):
        m = re.fullmatch(r"(\S.*) ([1-9]\d*)\n", line)
        if not m:
            errors.append("cpu.folded:%d: malformed: %r" % (i, line))
            continue
        frames, count = m.group(1).split(";"), int(m.group(2))
        total += count
        kern = [j for j, fr in enumerate(frames) if fr.endswith("_[k]")]
        if kern and not want_kernel:
            errors.append("cpu.folded:%d: kernel frame with --no-kernel: %r"
                          % (i, line))
        if kern and any(not fr.endswith("_[k]") for fr in frames[kern[0]:]):
            errors.append("cpu.folded:%d: user frame below a kernel frame: "
                          "%r" % (i, line))
        if "syscall_loop" in frames:
            under += count
            if kern and kern[0] > frames.index("syscall_loop"):
                with_k += count
print("cpu.folded: %d samples, %d under syscall_loop, %d of them with kernel "
      "frames below it" % (total, under, with_k))
if total != n:
    errors.append("cpu.folded sums to %d, the summary says %d" % (total, n))
if under < 0.5 * total:
    errors.append("only %d of %d samples under syscall_loop" % (under, total))
if want_kernel and with_k < 0.5 * under:
    errors.append("only %d of %d samples under syscall_loop have kernel "
                  "frames below it" % (with_k, under))

# cpu.pb.gz: kernel locations in the [kernel.kallsyms] mapping
p = pprof_raw.load(d + "/cpu.pb.gz")
kmaps = {i for i, line in p.mappings.items() if "[kernel.kallsyms]" in line}
kstacks = named = kframes = syscall_user = 0
for vals, locs, _ in p.samples:
    is_k = [p.locations[l]["mapping"] in kmaps for l in locs]
    frames = p.frames(locs)
    if any(is_k):
        if not want_kernel:
            errors.append("cpu.pb.gz: kernel locations with --no-kernel: %s"
                          % frames)
            break
        first_user = is_k.index(False) if False in is_k else len(is_k)
        if any(is_k[first_user:]):
            errors.append("cpu.pb.gz: user location leaf-ward of a kernel "
                          "one: %s" % frames)
            break
        if "syscall_loop" in frames:
            kstacks += vals[0]
        for l in locs[:first_user]:
            kframes += 1
            named += bool(p.locations[l]["lines"])
    elif frames and frames[0] != "syscall_loop" and "syscall_loop" in frames:
        syscall_user += vals[0]  # leaf is the libc wrapper syscall_loop called
if want_kernel:
    print("cpu.pb.gz: kernel mapping %s; %d samples with kernel locations "
          "below syscall_loop; %d/%d kernel frames named"
          % (sorted(kmaps), kstacks, named, kframes))
    if not kmaps:
        errors.append("cpu.pb.gz has no [kernel.kallsyms] mapping")
    if kstacks < 0.5 * under:
        errors.append("cpu.pb.gz: %d samples with kernel locations below "
                      "syscall_loop, expected at least half of %d"
                      % (kstacks, under))
    if kframes and named < 0.9 * kframes:
        errors.append("cpu.pb.gz: only %d of %d kernel frames symbolized"
                      % (named, kframes))
else:
    print("cpu.pb.gz: no kernel mapping (%s); %d samples charged to the "
          "functions syscall_loop called" % (sorted(kmaps), syscall_user))
    if kmaps:
        errors.append("cpu.pb.gz has a [kernel.kallsyms] mapping with "
                      "--no-kernel")
    # the workload lives in the kernel: that time must still be sampled
    if syscall_user < 0.5 * under:
        errors.append("--no-kernel: only %d of %d samples under syscall_loop "
                      "are in the syscall wrappers it calls; kernel time "
                      "lost?" % (syscall_user, under))
for e in errors:
    print("FAIL: " + e)
sys.exit(1 if errors else 0)
EOF
	local rc=$? msg
	cat "$W/check-$1.txt"
	if [ "$rc" -ne 0 ]; then
		msg=$(grep -m1 '^FAIL: ' "$W/check-$1.txt" | sed 's/^FAIL: //')
		fail "${msg:-reading the $1 profile back failed}"
	fi
}

summary_count() { # OUTFILE
	sed -n 's/^CPU: \([0-9][0-9]*\) samples at 99 Hz.*/\1/p' "$1"
}

run_memtel "$W/kernel" 60 --no-heap -o "$W/prof-kernel" -- "$WL" --seconds 3
assert_exit 0
assert_no_sanitizer "$W/kernel.err"
n=$(summary_count "$W/kernel.out")
[ -n "$n" ] || fail "no 'CPU: N samples at 99 Hz' line in the summary"
assert_file "$W/prof-kernel/cpu.folded"
check kernel "$W/prof-kernel" "$n"
log "kernel frames below syscall_loop"

run_memtel "$W/nokernel" 60 --no-heap --no-kernel -o "$W/prof-nokernel" -- "$WL" --seconds 3
assert_exit 0
assert_no_sanitizer "$W/nokernel.err"
n=$(summary_count "$W/nokernel.out")
[ -n "$n" ] || fail "no 'CPU: N samples at 99 Hz' line in the summary"
assert_file "$W/prof-nokernel/cpu.folded"
check no-kernel "$W/prof-nokernel" "$n"
log "--no-kernel: no kernel frames, kernel time still sampled"
