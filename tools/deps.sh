#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Install every Debian package memtel-bpf needs to build, test and benchmark.
# Idempotent: does nothing (and needs no network) when all are present.
set -euo pipefail
pkgs=(
	make gcc clang llvm pkg-config binutils
	libbpf-dev bpftool libelf-dev libdw-dev zlib1g-dev libcapstone-dev
	protobuf-c-compiler libprotobuf-c-dev libcmocka-dev libcurl4-openssl-dev libssl-dev
	libmicrohttpd-dev    # the agent's /metrics, /healthz, /readyz endpoint
	golang-go            # go tool pprof reads our profiles back in tests; Go heap tests
	musl-tools           # static musl binaries without CFI in the allocator
	systemtap-sdt-dev    # <sys/sdt.h>: libmemtel-sampler.so's otel_memory probes
	bpftrace linux-perf  # benchmark peers
	python3 python3-grpcio   # gRPC test receiver
	protobuf-compiler    # protoc, for decoding by hand
	python3-protobuf     # decodes our OTLP profiles in tests
	openssl
	curl                 # the agent tests query its HTTP endpoint
	prometheus python3-yaml  # promtool and YAML checks of deploy/
	chromium             # tools/check-svg-render.sh: flame graphs in a browser
	g++ libjemalloc-dev libgoogle-perftools-dev libmimalloc2.0  # C++ and jemalloc API heap tests
	nginx-light curl     # process trees: nginx master + workers, with load
	mmdebstrap umoci runc  # tools/container/: the agent image without a daemon
	redis-server redis-tools  # make bench: an allocation-heavy server and its load generator
	heaptrack time       # make bench: heaptrack's cost per pair; /usr/bin/time for the compile rows
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
