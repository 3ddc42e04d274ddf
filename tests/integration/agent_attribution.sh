#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-bpf agent attributes every process to its container and pod:
# processes placed in cgroup v2 directories named the way kubelet and the
# runtimes name them (systemd driver with containerd, cgroupfs driver,
# systemd driver with CRI-O) carry the right container.id and k8s.pod.uid
# in their OTLP profile resources, in their OTLP metrics resources and as
# container_id / k8s_pod_uid labels of their series on /metrics; each
# resource also names its process (process.pid) and k8s.node.name comes
# from $NODE_NAME. The cgroup2 mount is found from /proc/mounts.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

require_bpf
require_memtel

# shellcheck source=../lib/cgroup.sh
. "$(dirname "$0")/../lib/cgroup.sh"
cgroup_setup "memtel-agent-test-$$"

UID1=0a1b2c3d-4e5f-6789-abcd-ef0123456789
CID1=$(printf 'a%.0s' $(seq 64))
UID2=11111111-2222-3333-4444-555555555555
CID2=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
UID3=99999999-8888-7777-6666-555555555555
CID3=$(printf 'c%.0s' $(seq 64))
CASES=(
	"kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID1//-/_}.slice/cri-containerd-$CID1.scope $CID1 $UID1"
	"kubepods/besteffort/pod$UID2/$CID2 $CID2 $UID2"
	"kubepods.slice/kubepods-pod${UID3//-/_}.slice/crio-$CID3.scope $CID3 $UID3"
)
EXPECT=$W/expect.txt
: >"$EXPECT"
i=0
for c in "${CASES[@]}"; do
	read -r rel cid uid <<<"$c"
	mkcg "$rel"
	# about a fifth of a CPU each: samples at 99 Hz without hogging the host
	spawn "$W/t$i.out" "$W/t$i.err" bash -c \
		'while :; do for ((j = 0; j < 3000; j++)); do :; done; sleep 0.05; done'
	echo "$SPAWN_PID" >"$CGDIR/cgroup.procs" || fail "cannot move $SPAWN_PID into $CGDIR"
	echo "$SPAWN_PID $cid $uid" >>"$EXPECT"
	i=$((i + 1))
done

start_receiver recv
PORT=$(free_port)
watch_log "$W/agent.out" "$W/agent.err"
spawn "$W/agent.out" "$W/agent.err" env NODE_NAME=test-node-7 \
	"$MEMTEL_BIN" agent --otlp-endpoint "http://127.0.0.1:$RECV_PORT" \
	--export-interval 1 --listen "127.0.0.1:$PORT" --max-processes 10000
AGENT=$SPAWN_PID
for ((k = 0; k < 300; k++)); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] && break
	alive "$AGENT" || fail "the agent exited"
	sleep 0.1
done
[ "$k" -lt 300 ] || fail "the agent never became ready"
sleep 4
curl -sf "http://127.0.0.1:$PORT/metrics" >"$W/metrics.txt" || fail "GET /metrics failed"
kill -TERM "$AGENT"
wait_exit "$AGENT" 10 || fail "the agent did not exit within 10 s of SIGTERM"
assert_exit 0 "memtel-bpf agent"

PATH=/usr/bin:$PATH pycheck attribution "$EXPECT" "$RECV_DIR/requests.jsonl" "$W/metrics.txt" <<'PY'
import re, sys
import otlp_profiles_check as opc
import otlp_wire
expect_path, records, prom = sys.argv[1:]
want = {}
for line in open(expect_path):
    pid, cid, uid = line.split()
    want[int(pid)] = (cid, uid)
svc = opc.load_schema()

def attrs(res):
    out = {}
    for kv in res.attributes:
        v = kv.value
        out[kv.key] = v.string_value if v.HasField("string_value") else v.int_value
    return out

prof = {}
for where, body, _ in opc.records(records, False):
    req = svc.ExportProfilesServiceRequest()
    req.ParseFromString(body)
    for rp in req.resource_profiles:
        a = attrs(rp.resource)
        if a.get("process.pid") in want:
            prof.setdefault(a["process.pid"], []).append(a)
met = {}
for r in otlp_wire.load_records(records):
    if r["path"] != "/v1/metrics":
        continue
    # one request per window, one resource per process
    for rm in otlp_wire.parse_request(r["decoded"])["resource_metrics"]:
        a = dict(rm["resource"])
        pid = a.get("process.pid")
        if pid is not None and int(pid) in want:
            met.setdefault(int(pid), []).append(a)
labels = {}
for line in open(prom):
    m = re.match(r'^memory_rss_bytes\{(.*)\} ', line)
    if not m:
        continue
    d = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
    if "process_pid" in d and int(d["process_pid"]) in want:
        labels[int(d["process_pid"])] = d
for pid, (cid, uid) in want.items():
    for what, got in (("profiles", prof.get(pid)), ("metrics", met.get(pid))):
        if not got:
            print("FAIL: no OTLP %s resource for pid %d" % (what, pid)); sys.exit(1)
        for a in got:
            if a.get("container.id") != cid or a.get("k8s.pod.uid") != uid:
                print("FAIL: %s resource of pid %d: container.id %r k8s.pod.uid %r, want %r %r"
                      % (what, pid, a.get("container.id"), a.get("k8s.pod.uid"), cid, uid)); sys.exit(1)
            if a.get("k8s.node.name") != "test-node-7":
                print("FAIL: %s resource of pid %d: k8s.node.name %r" % (what, pid, a.get("k8s.node.name"))); sys.exit(1)
    d = labels.get(pid)
    if not d:
        print("FAIL: no memory_rss_bytes series for pid %d on /metrics" % pid); sys.exit(1)
    if d.get("container_id") != cid or d.get("k8s_pod_uid") != uid:
        print("FAIL: /metrics labels of pid %d: %r" % (pid, d)); sys.exit(1)
    print("pid %d: %d profile and %d metrics resources, /metrics labels: container %s pod %s"
          % (pid, len(prof[pid]), len(met[pid]), cid[:12], uid))
PY
echo "PASS"
