#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# build-image.sh - the agent's OCI image without a container daemon:
# deploy/Dockerfile's runtime stage rebuilt with Debian's tools.
#
#   tools/container/build-image.sh [BINARY]     (default ./memtel-bpf)
#
# 1. a bookworm root filesystem from mmdebstrap (--variant=essential plus the
#    runtime stage's packages, read from deploy/Dockerfile: one list);
# 2. an OCI image layout with umoci: that root as the base layer, the
#    binary (strip --strip-debug, as the Dockerfile does) inserted where
#    the Dockerfile COPYs it, and the Dockerfile's ENTRYPOINT, CMD, USER and
#    EXPOSE as the image config.
#
# Output under $MEMTEL_CONTAINER_DIR (default .output/container): oci/ with
# the tags base-<K1> (K1: the package list and the mmdebstrap options),
# bin-<K2> (K2: K1, the binary and the image config) and the DaemonSet's
# image tag (0.1.0) pointing at the newest bin-<K2>. Both steps are
# skipped when their tag exists, so a re-run after `make` takes seconds;
# older tags are removed and their blobs collected.
# The last line of stdout is "image OCI-DIR TAG".
#
# Environment: MEMTEL_DEBIAN_MIRROR (default: mmdebstrap's deb.debian.org,
# with bookworm-updates and bookworm-security added by it).
# Exit status: 0, 1 on failure, 3 when the mirror cannot be reached.
# Needs root (mmdebstrap's root mode; the layer keeps file owners), and the
# Debian packages mmdebstrap and umoci (tools/deps.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OCI_PY=$ROOT/tools/container/oci.py
DOCKERFILE=$ROOT/deploy/Dockerfile
MANIFEST=$ROOT/deploy/kubernetes/agent.yaml
BIN=${1:-$ROOT/memtel-bpf}
OUT=${MEMTEL_CONTAINER_DIR:-$ROOT/.output/container}
MIRROR=${MEMTEL_DEBIAN_MIRROR:-}
SUITE=bookworm
# debian:bookworm's own image config (the Dockerfile's FROM gives it)
BASE_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The essential variant (Essential: yes packages, then the runtime stage's
# with their dependencies): nothing installs packages in a read-only root,
# so apt and the other Priority: required ones are left out. /usr merged
# by directory symlinks as debian:bookworm's is (the alternative, the
# usrmerge package, pulls in perl). No documentation; mmdebstrap's cleanup
# leaves no package lists or cache, like the stage's rm -rf.
MM_OPTS=(--variant=essential --mode=root --format=tar
	--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
	--dpkgopt='path-exclude=/usr/share/info/*')

say() { printf 'build-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root, file owners in the layer)"
for t in mmdebstrap umoci python3 strip sha256sum; do
	command -v "$t" >/dev/null || die "$t not installed (tools/deps.sh)"
done
[ -x "$BIN" ] || die "no binary $BIN (make)"

mapfile -t PKGS < <(python3 "$OCI_PY" packages "$DOCKERFILE")
[ ${#PKGS[@]} -gt 0 ] || die "no runtime packages in $DOCKERFILE"
mapfile -t IMG_CFG < <(python3 "$OCI_PY" image-config "$DOCKERFILE")
DEST=$(python3 "$OCI_PY" install-path "$DOCKERFILE")
VERSION=$(python3 "$OCI_PY" image-tag "$MANIFEST")

hash() { sha256sum | cut -c1-16; }
K1=$(printf '%s\n' "$SUITE" "$MIRROR" "$BASE_ENV" "${MM_OPTS[@]}" -- "${PKGS[@]}" | hash)
K2=$( (printf '%s\n' "$K1" "$DEST" "${IMG_CFG[@]}"; sha256sum <"$BIN") | hash)
LAYOUT=$OUT/oci
mkdir -p "$OUT"
[ -d "$LAYOUT" ] || umoci init --layout "$LAYOUT"
# (grep reads all of it: with pipefail, -q's early exit would SIGPIPE umoci
# and read as "no such tag")
have_tag() { umoci ls --layout "$LAYOUT" | grep -x -- "$1" >/dev/null; }

if ! have_tag "base-$K1"; then
	probe=${MIRROR:-http://deb.debian.org/debian}
	probe=${probe%/}
	if command -v curl >/dev/null &&
		! curl -sf -m 20 -o /dev/null "$probe/dists/$SUITE/InRelease"; then
		say "mirror $probe unreachable"
		exit 3
	fi
	say "root filesystem: mmdebstrap $SUITE + ${PKGS[*]}"
	tar=$OUT/rootfs-$K1.tar
	start=$SECONDS
	mmdebstrap "${MM_OPTS[@]}" --include="$(IFS=,; echo "${PKGS[*]}")" \
		"$SUITE" "$tar.tmp" ${MIRROR:+"$MIRROR"} >"$OUT/mmdebstrap.log" 2>&1 || {
		tail -n 20 "$OUT/mmdebstrap.log" >&2
		rm -f "$tar.tmp"
		die "mmdebstrap failed (log: $OUT/mmdebstrap.log)"
	}
	say "mmdebstrap took $((SECONDS - start)) s"
	umoci rm --image "$LAYOUT:base-$K1" 2>/dev/null || true
	umoci new --image "$LAYOUT:base-$K1"
	umoci raw add-layer --image "$LAYOUT:base-$K1" --history.created_by "mmdebstrap $SUITE" "$tar.tmp"
	umoci config --image "$LAYOUT:base-$K1" --config.env="$BASE_ENV" --os linux \
		--architecture "$(dpkg --print-architecture)" --history.created_by "ENV $BASE_ENV"
	rm -f "$tar.tmp"
fi

if ! have_tag "bin-$K2"; then
	say "image: $BIN -> $DEST"
	tmp=$(mktemp -d "$OUT/bin.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	cp "$BIN" "$tmp/memtel-bpf"
	strip --strip-debug "$tmp/memtel-bpf"
	umoci insert --image "$LAYOUT:base-$K1" --tag "bin-$K2" \
		--history.created_by "COPY memtel-bpf $DEST" "$tmp/memtel-bpf" "$DEST"
	umoci config --image "$LAYOUT:bin-$K2" "${IMG_CFG[@]}" \
		--history.created_by "ENTRYPOINT, CMD, USER, EXPOSE of deploy/Dockerfile"
fi
umoci tag --image "$LAYOUT:bin-$K2" "$VERSION"

# keep only what this build uses
stale=0
while read -r t; do
	case $t in
	"base-$K1" | "bin-$K2" | "$VERSION") ;;
	*) umoci rm --image "$LAYOUT:$t"; stale=1 ;;
	esac
done < <(umoci ls --layout "$LAYOUT")
[ "$stale" = 0 ] || umoci gc --layout "$LAYOUT"
echo "image $LAYOUT bin-$K2"
