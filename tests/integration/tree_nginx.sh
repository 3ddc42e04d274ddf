#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# nginx by its master's pid with --children: the 2 running workers are
# found from /proc and profiled, and after `nginx -s reload` the new
# workers the master forks are followed too: pids of old and new workers
# show up in the heap or CPU profile's pid labels.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go
command -v nginx >/dev/null 2>&1 || fail "nginx missing (tools/deps.sh installs nginx-light)"
command -v curl >/dev/null 2>&1 || fail "curl missing (tools/deps.sh installs it)"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
N=$W/nginx
mkdir -p "$N/logs" "$N/tmp"
cat >"$N/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 2;
pid $N/nginx.pid;
error_log $N/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $N/tmp;
	proxy_temp_path $N/tmp;
	fastcgi_temp_path $N/tmp;
	uwsgi_temp_path $N/tmp;
	scgi_temp_path $N/tmp;
	server { listen 127.0.0.1:$port; location / { return 200 "ok\n"; } }
}
CONF
ngx() { nginx -p "$N" -c "$N/nginx.conf" "$@"; }
workers() { ps --ppid "$1" -o pid= | tr -d ' ' | sort; }
load() { # N requests; each must be answered
	local i
	for ((i = 0; i < $1; i++)); do
		curl -sf "http://127.0.0.1:$port/" >/dev/null || fail "request $i failed"
	done
}

watch_log "$N/error.log"
spawn "$W/nginx.out" "$W/nginx.err" nginx -p "$N" -c "$N/nginx.conf"
master=$SPAWN_PID
for ((i = 0; i < 50; i++)); do
	[ "$(workers "$master" | wc -l)" = 2 ] && break
	sleep 0.1
done
old=$(workers "$master")
[ "$(echo "$old" | wc -l)" = 2 ] || fail "nginx did not start 2 workers"

start_memtel "$W/memtel" --pid "$master" --children --sample-bytes 1 -o "$W/prof"
wait_for_line "$W/memtel.err" '^memtel-bpf: attached; writing' 30 "$MEMTEL_PID" || fail "memtel-bpf did not finish attaching"
grep -q "following 2 existing descendants of pid $master" "$W/memtel.err" || fail "the running workers were not found"
load 40

ngx -s reload || fail "nginx -s reload failed"
for ((i = 0; i < 100; i++)); do
	new=$(comm -13 <(echo "$old") <(workers "$master"))
	[ -n "$new" ] && break
	sleep 0.1
done
[ -n "$new" ] || fail "no new workers after the reload"
for p in $new; do
	wait_for_line "$W/memtel.err" "heap probes .* in pid $p " 10 || fail "new worker $p not attached"
done
load 60
sleep 0.3

kill -INT "$MEMTEL_PID"
wait_exit "$MEMTEL_PID" 30 || fail "memtel-bpf did not exit on SIGINT"
assert_exit 0
assert_no_sanitizer "$W/memtel.err"
alive "$master" || fail "nginx died while profiled"
assert_no_drops "$W/memtel.out"
labels=$( { by_pid "$W/prof/heap.pb.gz"; by_pid "$W/prof/cpu.pb.gz"; } | awk '{ print $1 }' | sort -u)
seen() { grep -qx "$1" <<<"$labels"; }
n_old=0 n_new=0
for p in $old; do seen "$p" && n_old=$((n_old + 1)); done
for p in $new; do seen "$p" && n_new=$((n_new + 1)); done
log "pid labels: $(echo $labels); old workers $(echo $old) ($n_old seen), new $(echo $new) ($n_new seen)"
seen "$master" || fail "the master $master is not in the profiles"
[ "$n_old" -ge 1 ] || fail "no worker from before the reload in the profiles"
[ "$n_new" -ge 1 ] || fail "no worker from after the reload in the profiles"
