#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# check-svg-render.sh - screenshot an SVG flame graph with headless Chromium,
# for manual checks that cpu.svg / heap.svg render (look at the PNG).
#
#   tools/check-svg-render.sh SVG PNG [WIDTHxHEIGHT]
#
# The window defaults to 1200 wide and the SVG's own height (at least 200).
# Needs Debian's chromium (apt-get install -y chromium). Exits non-zero if
# the browser fails or writes no PNG.
set -euo pipefail

usage() {
	echo "usage: $0 SVG PNG [WIDTHxHEIGHT]" >&2
	echo "example: $0 out/cpu.svg /tmp/cpu.png" >&2
	exit 2
}

[ $# -ge 2 ] && [ $# -le 3 ] || usage
svg=$1
png=$2
[ -r "$svg" ] || { echo "$0: cannot read $svg" >&2; exit 1; }

browser=
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		browser=$b
		break
	fi
done
[ -n "$browser" ] || { echo "$0: no chromium (apt-get install -y chromium)" >&2; exit 1; }

if [ $# -eq 3 ]; then
	size=${3/x/,}
else
	h=$(grep -o -m1 '<svg[^>]* height="[0-9]*"' "$svg" | sed 's/.* height="\([0-9]*\)"/\1/' || true)
	[ -n "$h" ] && [ "$h" -ge 200 ] || h=800
	size=1200,$h
fi

abs=$(realpath "$svg")
out=$(realpath -m "$png")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out"

# Flags keep it offline and quiet: no GPU, sync, updates or first-run UI.
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic \
	--no-first-run --disable-background-networking \
	--disable-component-update --disable-sync --hide-scrollbars \
	--user-data-dir="$profile" --window-size="$size" \
	--screenshot="$out" "file://$abs" >"$profile/log" 2>&1 || {
	cat "$profile/log" >&2
	exit 1
}
[ -s "$out" ] || { cat "$profile/log" >&2; echo "$0: no screenshot written" >&2; exit 1; }
echo "$out"
