#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-test: timeout=900
# memtel-test: normal-only
# The agent image run as a container on this machine, without a daemon
# (issue 14), the way deploy/kubernetes/agent.yaml's DaemonSet runs it:
#  - tools/container/build-image.sh builds the image: a bookworm root from
#    mmdebstrap with deploy/Dockerfile's runtime packages, packed with umoci
#    (cached under .output/container: a re-run only re-inserts the binary);
#    every shared library the binary needs resolves inside that root;
#  - umoci unpack gives a runtime bundle, and tools/container/oci.py makes
#    its config.json what the pod spec says: the manifest's command, args
#    and env over the image's ENTRYPOINT, no pid namespace (hostPID), root,
#    exactly the manifest's capabilities, no_new_privs, a read-only root,
#    unconfined seccomp, its volumes (the host's /sys/fs/cgroup read-only,
#    a host directory for the /tmp emptyDir) and its limits; its own
#    network namespace (no hostNetwork), entered to probe it as the kubelet
#    does; no OTLP endpoint, so pprof files rotate into the scratch volume;
#  - `runc run -d`: the agent process holds exactly those capabilities,
#    shares the host's pid namespace and not its mount or network ones, its
#    root refuses writes, and /readyz (the manifest's readiness probe)
#    answers 200;
#  - a CPU-busy process started on the host afterwards appears in a
#    rotated cpu-*.pb.gz under its host pid with symbolized frames (read
#    through /proc/PID/root from the container) and in /metrics;
#  - kernel frames are named (/proc/kallsyms readable: CAP_SYSLOG);
#  - `runc kill TERM` gives the final export (a file after the signal, one
#    per window in all) and the agent stops within the manifest's grace
#    period; `runc delete` leaves no container and no cgroup behind.
# Mirror unreachable on a cold cache: skip (a failure with
# MEMTEL_REQUIRE_BPF=1). Needs mmdebstrap, umoci, runc (tools/deps.sh).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
# the image ships the normal build, also in the ASan pass (deploy_k8s.sh)
BIN=$MEMTEL_ROOT/memtel-bpf
[ -x "$BIN" ] || fail "not built: $BIN (make)"
for t in mmdebstrap umoci runc nsenter curl; do
	command -v "$t" >/dev/null || fail "$t not installed (tools/deps.sh)"
done
python3 -c 'import yaml' 2>/dev/null || fail "PyYAML not installed (python3-yaml)"
CPUSPLIT=$MEMTEL_WL_DIR/cpusplit
[ -x "$CPUSPLIT" ] || fail "workloads not built: $CPUSPLIT (make workloads)"
OCI_PY=$MEMTEL_ROOT/tools/container/oci.py
MANIFEST=$MEMTEL_ROOT/deploy/kubernetes/agent.yaml

ID=memtel-agent-test-$$
RUNC=(runc --root "$W/runc-state")
BUNDLE=$W/bundle
SCRATCH=$W/scratch
LOG=$W/agent.log
AGENT_PID=
container_cleanup() {
	if [ -e "$W/runc-state/$ID" ]; then
		"${RUNC[@]}" kill "$ID" KILL >/dev/null 2>&1
		"${RUNC[@]}" delete --force "$ID" >/dev/null 2>&1
	fi
	# runc leaves them when `run` fails half-way
	find /sys/fs/cgroup -maxdepth 3 -depth -type d -name "$ID" -exec rmdir {} + 2>/dev/null
	# 150 MB the kept scratch directory of a failed run does not need
	rm -rf "$BUNDLE"
}
CLEANUP_HOOK=container_cleanup
watch_log "$W/build.log" "$LOG"

# --- image ---------------------------------------------------------------
start=$SECONDS
tools_rc=0
"$MEMTEL_ROOT/tools/container/build-image.sh" "$BIN" >"$W/build.log" 2>&1 || tools_rc=$?
case $tools_rc in
0) ;;
3)
	[ "${MEMTEL_REQUIRE_BPF:-0}" = 1 ] &&
		fail "Debian mirror unreachable and no cached image (MEMTEL_REQUIRE_BPF=1)"
	skip "Debian mirror unreachable and no cached image"
	;;
*) fail "build-image.sh exited $tools_rc" ;;
esac
read -r _ LAYOUT TAG < <(tail -n 1 "$W/build.log")
[ -n "${TAG:-}" ] || fail "build-image.sh did not name its image"
log "image $TAG built in $((SECONDS - start)) s"

start=$SECONDS
umoci unpack --image "$LAYOUT:$TAG" "$BUNDLE" >"$W/unpack.log" 2>&1 ||
	fail "umoci unpack: $(tail -n 3 "$W/unpack.log")"
log "bundle unpacked in $((SECONDS - start)) s"
R=$BUNDLE/rootfs
DEST=$(python3 "$OCI_PY" install-path "$MEMTEL_ROOT/deploy/Dockerfile") || fail "no install path"
[ -x "$R$DEST" ] || fail "no $DEST in the image"
# the image's packages are the Dockerfile's, and they are enough: every
# library the binary needs is found inside the root (ldd by the image's
# own loader, run in a chroot: no network, no writes)
python3 "$OCI_PY" packages "$MEMTEL_ROOT/deploy/Dockerfile" >"$W/want-pkgs.txt" || fail "no package list"
dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Package} ${db:Status-Status}\n' >"$W/have-pkgs.txt" ||
	fail "cannot read the image's dpkg database"
while read -r p; do
	grep -qx "$p installed" "$W/have-pkgs.txt" || fail "image lacks package $p"
done <"$W/want-pkgs.txt"
chroot "$R" /usr/bin/ldd "$DEST" >"$W/ldd.txt" 2>&1 || fail "ldd in the image: $(cat "$W/ldd.txt")"
! grep -q 'not found' "$W/ldd.txt" || fail "libraries missing from the image: $(grep 'not found' "$W/ldd.txt" | tr '\n' ' ')"
# the image is the Dockerfile's: the `dev` packages of the build stage are not in it
! grep -q -- '-dev installed' "$W/have-pkgs.txt" || fail "the image has -dev packages"

# --- bundle: the DaemonSet's pod spec -----------------------------------
mkdir -p "$SCRATCH"
python3 "$OCI_PY" bundle-config "$BUNDLE" "$LAYOUT" "$TAG" "$MANIFEST" \
	--node-name "node-$$" --hostname "$ID" --scratch "$SCRATCH" \
	--cgroups-path "/$ID" \
	--unset-env OTEL_EXPORTER_OTLP_ENDPOINT \
	--extra-arg=-o --extra-arg=/tmp --extra-arg=--export-interval=5 \
	>"$W/bundle-config.log" 2>&1 || fail "oci.py bundle-config: $(cat "$W/bundle-config.log")"
cp "$BUNDLE/config.json" "$W/config.json"
read -r RPATH RPORT < <(python3 "$OCI_PY" probe "$MANIFEST" readinessProbe) || fail "no readiness probe"
read -r LPATH LPORT < <(python3 "$OCI_PY" probe "$MANIFEST" livenessProbe) || fail "no liveness probe"
GRACE=$(python3 "$OCI_PY" grace "$MANIFEST") || fail "no grace period"
# the capability mask the manifest asks for, as /proc/PID/status shows it
WANT_CAPS=$(python3 - "$MANIFEST" <<'EOF'
import sys, yaml
NAMES = ("CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
         "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK "
         "IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT "
         "SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL "
         "SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON "
         "BPF CHECKPOINT_RESTORE").split()  # <linux/capability.h> order
CAP = {n: i for i, n in enumerate(NAMES)}
ds = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "DaemonSet"][0]
add = ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]
print("%016x" % sum(1 << CAP[c] for c in add))
EOF
) || fail "cannot read the manifest's capabilities"
log "pod spec: probes $RPATH:$RPORT $LPATH:$LPORT, caps $WANT_CAPS, grace ${GRACE}s"

# --- run -------------------------------------------------------------------
mkdir -p "$W/runc-state"
"${RUNC[@]}" run -d --bundle "$BUNDLE" --pid-file "$W/pid" "$ID" >"$LOG" 2>&1 </dev/null ||
	fail "runc run failed"
AGENT_PID=$(cat "$W/pid")
log "container $ID: agent pid $AGENT_PID, $(tr '\0' ' ' <"/proc/$AGENT_PID/cmdline")"
running() { "${RUNC[@]}" state "$ID" 2>/dev/null | grep -q '"status": "running"'; }
# the kubelet's probe: HTTP to the pod's own network namespace
code() { # PATH PORT
	nsenter -t "$AGENT_PID" -n curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$2$1"
}
for ((k = 0; k < 600; k++)); do
	[ "$(code "$RPATH" "$RPORT")" = 200 ] && break
	running || fail "the container stopped before it was ready"
	sleep 0.1
done
[ "$k" -lt 600 ] || fail "$RPATH never answered 200 within 60 s"
[ "$(code "$LPATH" "$LPORT")" = 200 ] || fail "$LPATH does not answer 200"
log "ready after $((k / 10)).$((k % 10)) s"

# the process is confined as the pod spec says
st=/proc/$AGENT_PID/status
for f in CapEff CapPrm CapBnd; do
	got=$(awk -v f="$f:" '$1 == f {print $2}' "$st")
	[ "$got" = "$WANT_CAPS" ] || fail "$f of the agent is $got, the manifest gives $WANT_CAPS"
done
[ "$(awk '$1 == "CapInh:" {print $2}' "$st")" = 0000000000000000 ] || fail "inheritable capabilities set"
[ "$(awk '$1 == "NoNewPrivs:" {print $2}' "$st")" = 1 ] || fail "no_new_privs is not set (allowPrivilegeEscalation: false)"
[ "$(awk '$1 == "Uid:" {print $2}' "$st")" = 0 ] || fail "the agent does not run as uid 0"
[ "$(readlink "/proc/$AGENT_PID/ns/pid")" = "$(readlink /proc/self/ns/pid)" ] ||
	fail "the agent is not in the host's pid namespace (hostPID)"
[ "$(readlink "/proc/$AGENT_PID/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
	fail "the agent shares the host's mount namespace"
[ "$(readlink "/proc/$AGENT_PID/ns/net")" != "$(readlink /proc/self/ns/net)" ] ||
	fail "the agent shares the host's network namespace (the manifest has no hostNetwork)"
"${RUNC[@]}" exec "$ID" /bin/sh -c ': >/probe' >"$W/rofs.txt" 2>&1 &&
	fail "the container's root filesystem is writable"
grep -qi 'read-only' "$W/rofs.txt" || fail "writing to / failed otherwise: $(cat "$W/rofs.txt")"
# the host's cgroup tree, every mount of it read-only (mountinfo: field
# 5 the mount point, 6 its options)
awk '$5 ~ "^/sys/fs/cgroup(/|$)" {n++; if ($6 !~ /^ro(,|$)/) bad = bad " " $5} END {
	if (!n) print "none"; else if (bad) print bad }' "/proc/$AGENT_PID/mountinfo" >"$W/rocg.txt"
[ ! -s "$W/rocg.txt" ] || fail "/sys/fs/cgroup in the container: not read-only or absent: $(cat "$W/rocg.txt")"
awk '$5 == "/sys/fs/cgroup" {print $4}' "/proc/$AGENT_PID/mountinfo" | grep -qx / ||
	fail "/sys/fs/cgroup in the container is not the host's tree"

# a host process, started after the agent, outside the container
cp "$CPUSPLIT" "$W/cpusplit" || fail "cannot copy cpusplit"
spawn "$W/busy.out" "$W/busy.err" "$W/cpusplit" --seconds 240 --threads 1
BUSY=$SPAWN_PID
log "host process: cpusplit pid $BUSY"
# the first window opens every process of the host for symbols: on a busy
# host (2 CPUs shared by many test runs) that took 50 s
found=
for ((k = 0; k < 1500; k++)); do
	for f in "$SCRATCH"/cpu-*.pb.gz; do
		[ -s "$f" ] || continue
		grep -qxF "$f" "$W/seen" 2>/dev/null && continue
		echo "$f" >>"$W/seen"
		python3 "$PPROF_RAW" by-pid "$f" >"$W/by-pid.txt" 2>&1 || fail "cannot read $f: $(cat "$W/by-pid.txt")"
		if awk -v p="$BUSY" '$1 == p && ($2 == "leaf_three" || $2 == "leaf_one") {n++} END {exit !n}' "$W/by-pid.txt"; then
			found=$f
			break
		fi
	done
	[ -n "$found" ] && break
	alive "$BUSY" || fail "cpusplit exited"
	running || fail "the container stopped"
	sleep 0.1
done
[ -n "$found" ] || fail "no rotated profile in 150 s has pid $BUSY's leaf_three/leaf_one ($(ls "$SCRATCH" | tr '\n' ' '); last: $(tr '\n' ';' <"$W/by-pid.txt"))"
log "$(basename "$found"): $(awk -v p="$BUSY" '$1 == p' "$W/by-pid.txt" | tr '\n' ';')"
nsenter -t "$AGENT_PID" -n curl -sf -m 5 "http://127.0.0.1:$RPORT/metrics" >"$W/metrics.txt" ||
	fail "GET /metrics failed"
# memory gauges of host processes (the largest by RSS; cpusplit is not
# among them): pids of processes outside the container's mount namespace
host=0
for p in $(sed -n 's/^memory_rss_bytes{.*process_pid="\([0-9]*\)".*/\1/p' "$W/metrics.txt"); do
	[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$(readlink /proc/self/ns/mnt)" ] && host=$((host + 1))
done
[ "$host" -gt 0 ] || fail "/metrics has no memory_rss_bytes series of a host process"
# kernel frames are named: /proc/kallsyms in the container shows addresses
# (CAP_SYSLOG). Unnamed ones would be leaves like 0xffffffff813a2413 in
# the kernel's own text (0xffffffff8...); BPF programs and modules
# (0xffffffffc...) loaded after the agent read kallsyms may stay unnamed.
kleaves=$(awk '$2 ~ /^0xffffffff[89ab]/' "$W/by-pid.txt" | wc -l)
[ "$kleaves" = 0 ] ||
	fail "$kleaves of $(wc -l <"$W/by-pid.txt") pid/leaf pairs are unnamed kernel text addresses: $(awk '$2 ~ /^0xffffffff[89ab]/ {print $2}' "$W/by-pid.txt" | head -n 3 | tr '\n' ' ')"
log "/metrics: $host host processes; no unnamed kernel leaves"
kill -TERM "$BUSY"

# --- stop: SIGTERM gives the final export ---------------------------------
touch "$W/term-stamp"
start_ns=$(date +%s%N)
"${RUNC[@]}" kill "$ID" TERM || fail "runc kill TERM failed"
for ((k = 0; k < GRACE * 10; k++)); do
	running || break
	sleep 0.1
done
stop_ms=$((($(date +%s%N) - start_ns) / 1000000))
running && fail "the agent still runs ${GRACE}s after SIGTERM (the manifest's grace period)"
find "$SCRATCH" -name 'cpu-*.pb.gz' -newer "$W/term-stamp" >"$W/final.txt"
[ -s "$W/final.txt" ] || fail "no profile written after SIGTERM (the final export)"
python3 "$PPROF_RAW" by-pid "$(tail -n 1 "$W/final.txt")" >/dev/null 2>&1 || fail "the final export is not a profile"
# every window, the last one included, wrote its file
windows=$(sed -n 's/.*stopped after \([0-9]*\) windows (0 failed).*/\1/p' "$LOG")
[ -n "$windows" ] || fail "the agent did not log 'stopped after N windows (0 failed)'"
files=$(find "$SCRATCH" -name 'cpu-*.pb.gz' | wc -l)
[ "$files" = "$windows" ] || fail "$windows windows but $files profiles"
grep -q 'stopped after' "$LOG" || fail "the agent did not log its stop"
log "stopped in $stop_ms ms after SIGTERM; $windows windows, the last $(basename "$(tail -n 1 "$W/final.txt")")"

"${RUNC[@]}" delete "$ID" || fail "runc delete failed"
"${RUNC[@]}" list -q | grep -qx "$ID" && fail "the container is still listed after runc delete"
left=$(find /sys/fs/cgroup -maxdepth 2 -type d -name "$ID" 2>/dev/null)
[ -z "$left" ] || fail "the container's cgroups are left behind: $left"
echo "PASS"
