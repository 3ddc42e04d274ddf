#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Processes in cgroup v2 directories named the way kubelet and the
# container runtimes name them carry container.id and k8s.pod.uid in their
# OTLP resource (DIR/metrics.jsonl, no collector):
#  - kubelet's systemd driver with containerd:
#    kubepods.slice/kubepods-burstable.slice/
#    kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
#  - kubelet's cgroupfs driver: kubepods/besteffort/pod<uid>/<id>
#  - Docker outside Kubernetes: system.slice/docker-<id>.scope (no pod uid)
# The cgroup2 mount is found from /proc/mounts, never assumed.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel
require_leaker

# shellcheck source=../lib/cgroup.sh
. "$(dirname "$0")/../lib/cgroup.sh"
cgroup_setup "memtel-test-$$"

UID1=0a1b2c3d-4e5f-6789-abcd-ef0123456789
CID1=$(printf 'a%.0s' $(seq 64))
UID2=11111111-2222-3333-4444-555555555555
CID2=$(printf '%s' 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef)
CID3=$(printf 'c%.0s' $(seq 64))

run_case() { # NAME CGROUP-REL CID UID
	local name=$1 dir tpid
	mkcg "$2"
	dir=$CGDIR
	watch_log "$W/$name.target" "$W/$name.target.err"
	spawn "$W/$name.target" "$W/$name.target.err" "$LEAKER" --seconds 30
	tpid=$SPAWN_PID
	echo "$tpid" >"$dir/cgroup.procs" || fail "$name: cannot move $tpid into $dir"
	grep -q "^0::.*$(basename "$dir")\$" "/proc/$tpid/cgroup" ||
		fail "$name: /proc/$tpid/cgroup does not show $dir: $(cat "/proc/$tpid/cgroup")"
	run_memtel "$W/$name" 60 --pid "$tpid" --no-cpu --export-interval 1 \
		--duration 3 -o "$W/$name.prof"
	assert_exit 0
	assert_file "$W/$name.prof/metrics.jsonl"
	kill "$tpid" 2>/dev/null
	pycheck "$name" "$W/$name.prof/metrics.jsonl" "$3" "$4" <<'PY'
import json, sys
path, cid, uid = sys.argv[1:]
seen = []
with open(path) as f:
    for line in f:
        for rm in json.loads(line)["resourceMetrics"]:
            attrs = {a["key"]: a["value"].get("stringValue")
                     for a in rm["resource"]["attributes"]}
            seen.append(attrs)
if not seen:
    print("FAIL: no resource in metrics.jsonl"); sys.exit(1)
for a in seen:
    if a.get("container.id") != cid:
        print("FAIL: container.id %r, expected %r" % (a.get("container.id"), cid)); sys.exit(1)
    if uid and a.get("k8s.pod.uid") != uid:
        print("FAIL: k8s.pod.uid %r, expected %r" % (a.get("k8s.pod.uid"), uid)); sys.exit(1)
    if not uid and "k8s.pod.uid" in a:
        print("FAIL: a k8s.pod.uid %r outside Kubernetes" % a["k8s.pod.uid"]); sys.exit(1)
print("%d resources, container.id %s, k8s.pod.uid %s" % (len(seen), cid[:12], uid or "-"))
PY
}

run_case systemd \
	"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID1//-/_}.slice/cri-containerd-$CID1.scope" \
	"$CID1" "$UID1"
run_case cgroupfs "kubepods/besteffort/pod$UID2/$CID2" "$CID2" "$UID2"
run_case docker "system.slice/docker-$CID3.scope" "$CID3" ""
echo "PASS"
