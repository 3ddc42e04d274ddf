#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# A pid that exec's, and a pid reused by another program, within one
# window of `memtel-bpf agent`: each image's CPU samples carry its own
# symbols. The programs are non-PIE, so both images of a pid have code at
# the same addresses (0x401xxx): the first image's maps, or its cached
# frames, would name the second's samples with the first's functions
# (what the agent did before: 6 s of a post-exec loop reported as the
# pre-exec one). Each image spins 1.5 s of CPU in a function of its own
# (img_first, img_second); the pid's samples must be about half each.
# The reused pid is forced through /proc/sys/kernel/ns_last_pid (other
# processes on the host may take it first: a few tries).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

require_bpf
require_memtel
require_go

cat >"$W/img.c" <<'EOF'
#include <time.h>
#include <unistd.h>
volatile unsigned long sink;
static double cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}
__attribute__((noinline)) void SPIN(double s)
{
	double end = cpu_s() + s;
	while (cpu_s() < end)
		for (int i = 0; i < 100000; i++)
			sink += i * MUL;
}
int main(int argc, char **argv)
{
	SPIN(1.5);
	if (argc > 1)
		execv(argv[1], argv + 1);
	return 0;
}
EOF
for n in first:3 second:5; do
	${CC:-cc} -O1 -g -no-pie -fno-pie -DSPIN="img_${n%%:*}" -DMUL="${n##*:}" \
		-o "$W/img_${n%%:*}" "$W/img.c" || fail "cannot build img_${n%%:*}"
done
a1=$(nm "$W/img_first" | awk '$3 == "img_first" { print $1 }')
a2=$(nm "$W/img_second" | awk '$3 == "img_second" { print $1 }')
log "img_first at 0x$a1, img_second at 0x$a2"
[ "$((16#$a1 >> 12))" = "$((16#$a2 >> 12))" ] || fail "the two images' loops are not on the same page"

PORT=$(python3 "$MEMTEL_ROOT/tests/lib/otlp_receiver.py" freeport)
watch_log "$W/agent.out" "$W/agent.err"
spawn "$W/agent.out" "$W/agent.err" "$MEMTEL_BIN" agent -F 199 \
	--export-interval 120 -o "$W/prof" --listen "127.0.0.1:$PORT"
AGENT=$SPAWN_PID
wait_for_line "$W/agent.err" '^memtel-bpf: attached;' 90 "$AGENT" || fail "the agent did not attach"

# exec: img_first spins, then becomes img_second in the same pid
"$W/img_first" "$W/img_second" &
EXEC_PID=$!
wait "$EXEC_PID" || fail "img_first -> img_second failed"
log "exec'd in pid $EXEC_PID"

# reuse: img_first exits, img_second is started in its pid
REUSE_PID=
for ((try = 0; try < 20; try++)); do
	"$W/img_first" &
	p=$!
	wait "$p"
	echo "$((p - 1))" >/proc/sys/kernel/ns_last_pid 2>/dev/null || skip "cannot set ns_last_pid"
	"$W/img_second" &
	q=$!
	if [ "$q" = "$p" ]; then
		wait "$q"
		REUSE_PID=$p
		break
	fi
	wait "$q"
	log "pid $p was taken before img_second started (got $q): again"
done
[ -n "$REUSE_PID" ] || fail "could not start img_second in img_first's pid in 20 tries"
log "reused pid $REUSE_PID"

kill -TERM "$AGENT"
wait_exit "$AGENT" 30 || fail "the agent did not stop on SIGTERM"
assert_exit 0
assert_no_sanitizer "$W/agent.err"
shopt -s nullglob
files=("$W"/prof/cpu-*.pb.gz)
[ "${#files[@]}" -ge 1 ] || fail "no profile written"

# "PID LEAF SAMPLES NS" of every file, summed
for f in "${files[@]}"; do by_pid "$f"; done |
	awk '{ s[$1 " " $2] += $3 } END { for (k in s) print k, s[k] }' >"$W/leaves"
for pid in "$EXEC_PID" "$REUSE_PID"; do
	read -r first second total < <(awk -v p="$pid" '$1 == p {
		t += $3; if ($2 == "img_first") f += $3; if ($2 == "img_second") s += $3 }
		END { print f + 0, s + 0, t + 0 }' "$W/leaves")
	log "pid $pid: img_first $first, img_second $second of $total samples"
	[ "$total" -ge 200 ] || fail "pid $pid: only $total samples ($(grep "^$pid " "$W/leaves" | tr '\n' ';'))"
	# 1.5 s of CPU each at 199 Hz: ~300 samples each, about half
	for v in "$first" "$second"; do
		[ "$((v * 100 / total))" -ge 30 ] ||
			fail "pid $pid: img_first $first, img_second $second of $total samples: an image's samples carry the other's names ($(grep "^$pid " "$W/leaves" | tr '\n' ';'))"
	done
done
log "each image of both pids is named by its own symbols"
