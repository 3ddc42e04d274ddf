#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# check-svg-render.sh - an SVG flame graph in headless Chromium.
#
#   tools/check-svg-render.sh SVG PNG [WIDTHxHEIGHT]
#	screenshot it, for a person to look at (cpu.svg / heap.svg render);
#	the window defaults to 1200 wide and the SVG's own height (>= 200).
#   tools/check-svg-render.sh --check SVG
#	run its viewer in the browser: hover a frame (the details line names
#	it), click one (it fills the width, Reset Zoom shows), unzoom (its
#	width comes back), search its name (highlighted, "Matched:" shown),
#	reset the search. Prints "ok" or what failed.
#
# Needs Debian's chromium (apt-get install -y chromium). Exits non-zero if
# the browser fails, writes no PNG, or a check fails.
set -euo pipefail

usage() {
	echo "usage: $0 SVG PNG [WIDTHxHEIGHT] | $0 --check SVG" >&2
	echo "example: $0 out/cpu.svg /tmp/cpu.png" >&2
	exit 2
}

check=false
if [ "${1:-}" = --check ]; then
	check=true
	shift
	[ $# -eq 1 ] || usage
else
	[ $# -ge 2 ] && [ $# -le 3 ] || usage
fi
svg=$1
png=${2:-}
[ -r "$svg" ] || { echo "$0: cannot read $svg" >&2; exit 1; }

browser=
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		browser=$b
		break
	fi
done
[ -n "$browser" ] || { echo "$0: no chromium (apt-get install -y chromium)" >&2; exit 1; }

# Under /tmp, and its TMPDIR too: Chromium's singleton socket must fit a
# socket path (108 bytes), which a deep TMPDIR would not.
profile=$(mktemp -d /tmp/check-svg.XXXXXX)
trap 'rm -rf "$profile"' EXIT
export TMPDIR=$profile
# Flags keep it offline and quiet: no GPU, sync, updates or first-run UI.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
	--disable-background-networking --disable-component-update
	--disable-sync --hide-scrollbars --user-data-dir="$profile")

if $check; then
	# The checks run as a second script after the viewer's, in a copy of
	# the SVG; they leave their verdict on the root element, which
	# --dump-dom prints once the page has loaded.
	{
		sed '$ s|</svg>$||' "$svg"
		printf '<script type="text/ecmascript"><![CDATA[\n'
		cat <<'EOF'
(function () {
	var errs = [], fg = window.flamegraph, root = document.getElementById("frames");
	if (!root) {
		document.documentElement.setAttribute("data-check",
			"no frames to check (an empty graph)");
		return;
	}
	var W = root.getAttribute("data-width");
	function ev(el, type) { el.dispatchEvent(new MouseEvent(type, { bubbles: true })); }
	function frame(d) {
		var gs = root.querySelectorAll("g.f"), i;
		for (i = 0; i < gs.length; i++)
			if (+gs[i].getAttribute("data-d") === d)
				return gs[i];
		return null;
	}
	if (!fg) { errs.push("no window.flamegraph: the script did not run"); }
	var g = frame(1);
	if (fg && g) {
		var name = g.getElementsByTagName("title")[0].textContent.split("\n")[0];
		var rect = g.getElementsByTagName("rect")[0];
		ev(rect, "mouseover");
		var det = document.getElementById("details").textContent;
		if (det.indexOf(name) < 0) errs.push("hover: details show '" + det + "', not " + name);
		var g2 = frame(2) || g, name2 = g2.getElementsByTagName("title")[0].textContent.split("\n")[0];
		var r2 = g2.getElementsByTagName("rect")[0], w0 = r2.getAttribute("width");
		ev(r2, "click");
		if (fg.zoomed() !== name2) errs.push("zoom: zoomed() is " + fg.zoomed() + ", not " + name2);
		if (Math.abs(+r2.getAttribute("width") - W) > 0.01) errs.push("zoom: width " + r2.getAttribute("width") + ", not " + W);
		if (document.getElementById("unzoom").classList.contains("hide")) errs.push("zoom: no Reset Zoom button");
		fg.unzoom();
		if (r2.getAttribute("width") !== w0) errs.push("unzoom: width " + r2.getAttribute("width") + ", not " + w0);
		var sum = fg.search(name);
		if (!(sum > 0)) errs.push("search " + name + ": matched " + sum);
		if (rect.getAttribute("fill") !== "rgb(230,0,230)") errs.push("search: frame not highlighted");
		if (document.getElementById("matched").textContent.indexOf("Matched: ") !== 0) errs.push("search: no 'Matched:' line");
		fg.resetSearch();
		if (rect.getAttribute("fill") === "rgb(230,0,230)") errs.push("reset search: frame still highlighted");
	} else if (fg) {
		errs.push("no frame at depth 1");
	}
	document.documentElement.setAttribute("data-check", errs.length ? errs.join("; ") : "ok");
})();
EOF
		printf ']]></script>\n</svg>\n'
	} >"$profile/check.svg"
	timeout 120 "$browser" "${flags[@]}" --dump-dom \
		"file://$profile/check.svg" >"$profile/dom" 2>"$profile/log" || {
		cat "$profile/log" >&2
		exit 1
	}
	verdict=$(grep -o 'data-check="[^"]*"' "$profile/dom" | head -n1 |
		sed 's/^data-check="//; s/"$//' || true)
	[ -n "$verdict" ] || { echo "$0: $svg: the checks did not run" >&2; exit 1; }
	echo "$verdict"
	[ "$verdict" = ok ]
	exit
fi

if [ $# -eq 3 ]; then
	size=${3/x/,}
else
	h=$(grep -o -m1 '<svg[^>]* height="[0-9]*"' "$svg" | sed 's/.* height="\([0-9]*\)"/\1/' || true)
	[ -n "$h" ] && [ "$h" -ge 200 ] || h=800
	size=1200,$h
fi

abs=$(realpath "$svg")
out=$(realpath -m "$png")
rm -f "$out"

timeout 120 "$browser" "${flags[@]}" --window-size="$size" \
	--screenshot="$out" "file://$abs" >"$profile/log" 2>&1 || {
	cat "$profile/log" >&2
	exit 1
}
[ -s "$out" ] || { cat "$profile/log" >&2; echo "$0: no screenshot written" >&2; exit 1; }
echo "$out"
