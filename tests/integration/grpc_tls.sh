#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# OTLP/gRPC over TLS (https://: HTTP/2 negotiated with ALPN) to a real gRPC
# server (tests/lib/grpc_receiver.py with a self-signed certificate for
# 127.0.0.1): with the certificate as OTEL_EXPORTER_OTLP_CERTIFICATE every
# export is delivered and decodes; without it the server is not trusted, and
# that failure is final (never retried, nothing reaches the server).
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

RECEIVER=$MEMTEL_ROOT/tests/lib/grpc_receiver.py
# Debian's python3-grpcio lives in /usr/bin/python3's dist-packages, which a
# pyenv python3 first on PATH does not see.
PY=/usr/bin/python3
LEAKER=$MEMTEL_WL_DIR/leaker

require_bpf
require_memtel
[ -x "$LEAKER" ] || fail "workloads not built: $LEAKER (make workloads)"
"$PY" -c 'import grpc' 2>/dev/null ||
	skip "$PY has no grpc module (apt-get install python3-grpcio)"
command -v openssl >/dev/null || skip "no openssl command to make a certificate"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$W/key.pem" \
	-out "$W/cert.pem" >"$W/openssl.log" 2>&1 ||
	{ cat "$W/openssl.log"; fail "openssl could not make a certificate"; }

watch_log "$W/rx.log"
spawn "$W/rx.log" "$W/rx.log" "$PY" "$RECEIVER" serve --port-file "$W/rx.port" \
	--record "$W/rx.jsonl" --lifetime 120 \
	--tls-cert "$W/cert.pem" --tls-key "$W/key.pem"
wait_for_line "$W/rx.port" '^[0-9]+$' 20 "$SPAWN_PID" ||
	fail "grpc_receiver.py did not start"
port=$(cat "$W/rx.port")
log "TLS receiver on 127.0.0.1:$port"

for v in $(env | sed -n 's/^\(OTEL_[A-Z_]*\)=.*/\1/p'); do
	unset "$v"
done

# Trusted: everything delivered.
OTEL_EXPORTER_OTLP_CERTIFICATE=$W/cert.pem \
	run_memtel "$W/ok" 90 --no-cpu --export-interval 1 --otlp-protocol grpc \
	--otlp-endpoint "https://127.0.0.1:$port" -o "$W/prof1" -- \
	"$LEAKER" --seconds 3
assert_exit 0
assert_no_sanitizer "$W/ok.err"
line=$(grep '^OTLP export:' "$W/ok.out") || fail "no 'OTLP export:' summary"
log "$line"
case $line in
"OTLP export: "*" sent, 0 failed, 0 retried, 0 dropped") ;;
*) fail "not everything was delivered over TLS: $line" ;;
esac
sent=$(sed -n 's/^OTLP export: \([0-9]*\) sent.*/\1/p' "$W/ok.out")
calls=$("$PY" "$RECEIVER" count "$W/rx.jsonl")
[ "$sent" -ge 4 ] || fail "only $sent requests sent"
[ "$calls" = "$sent" ] || fail "memtel sent $sent, the receiver got $calls"
"$PY" "$RECEIVER" check "$W/rx.jsonl" --method metrics --min 2 >"$W/check.txt" 2>&1 ||
	{ cat "$W/check.txt"; fail "metrics calls do not decode"; }

# Untrusted: final failures, no retries, nothing received.
run_memtel "$W/bad" 90 --no-cpu --export-interval 1 --otlp-protocol grpc \
	--otlp-endpoint "https://127.0.0.1:$port" -o "$W/prof2" -- \
	"$LEAKER" --seconds 2
assert_exit 0
assert_no_sanitizer "$W/bad.err"
grep -qi 'certificate' "$W/bad.err" || fail "the certificate failure was not logged"
line=$(grep '^OTLP export:' "$W/bad.out") || fail "no 'OTLP export:' summary"
log "$line"
case $line in
"OTLP export: 0 sent, "*" failed, 0 retried, 0 dropped") ;;
*) fail "an untrusted server got data or retries: $line" ;;
esac
[ "$("$PY" "$RECEIVER" count "$W/rx.jsonl")" = "$calls" ] ||
	fail "the untrusted run reached the server"
exit 0
