/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * flamegraph.js - the viewer inside every SVG flame graph (embedded by the
 * build): hover details, click to zoom, search. It reads only the document:
 * layout constants and the unit on #frames; per frame its value offset
 * (data-s), value (data-v), depth (data-d) and "name\nvalue, share" in its
 * <title>.
 */
"use strict";
(function () {
	var root = document.getElementById("frames");
	var X0 = +root.getAttribute("data-x0");
	var W = +root.getAttribute("data-width");
	var CW = +root.getAttribute("data-cw");
	var TOTAL = +root.getAttribute("data-total");
	var UNIT = root.getAttribute("data-unit");
	var details = document.getElementById("details");
	var matched = document.getElementById("matched");
	var unzoomBtn = document.getElementById("unzoom");
	var searchBtn = document.getElementById("search");
	var HIGHLIGHT = "rgb(230,0,230)";
	var nodes = [], searching = false, zoomed = null;
	var gs = root.getElementsByTagName("g"), i;

	for (i = 0; i < gs.length; i++) {
		var g = gs[i], t = g.getElementsByTagName("title")[0].textContent;
		var nl = t.indexOf("\n");
		var n = {
			g: g,
			rect: g.getElementsByTagName("rect")[0],
			text: g.getElementsByTagName("text")[0],
			name: nl < 0 ? t : t.substring(0, nl),
			info: nl < 0 ? "" : t.substring(nl + 1),
			s: +g.getAttribute("data-s"),
			v: +g.getAttribute("data-v"),
			d: +g.getAttribute("data-d")
		};
		n.fill = n.rect.getAttribute("fill");
		g.fgNode = n;
		nodes.push(n);
	}

	function commas(v) {
		var s = String(Math.round(v)), o = "";
		while (s.length > 3) {
			o = "," + s.slice(-3) + o;
			s = s.slice(0, -3);
		}
		return s + o;
	}
	function fmt(v) {
		var u = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"], k = 0;
		if (UNIT !== "bytes")
			return commas(v) + " " + UNIT;
		if (v < 1024)
			return commas(v) + " bytes";
		v /= 1024;
		while (v >= 1024 && k < u.length - 1) {
			v /= 1024;
			k++;
		}
		return v.toFixed(2) + " " + u[k];
	}
	/* Same rule as the C writer: whole name, or a prefix + "..". */
	function label(name, w) {
		var cps = Array.from(name), k = w > 6 ? Math.floor((w - 6) / CW) : 0;
		if (k >= cps.length)
			return name;
		if (k < 3)
			return "";
		return cps.slice(0, k - 2).join("") + "..";
	}
	function place(n, x, w) {
		n.g.classList.remove("hide");
		n.rect.setAttribute("x", x.toFixed(2));
		n.rect.setAttribute("width", w.toFixed(2));
		n.text.setAttribute("x", (x + 3).toFixed(2));
		n.text.textContent = label(n.name, w);
	}
	function unzoom() {
		zoomed = null;
		nodes.forEach(function (n) {
			n.g.classList.remove("parent");
			place(n, X0 + n.s / TOTAL * W, n.v / TOTAL * W);
		});
		unzoomBtn.classList.add("hide");
	}
	/* f fills the width; its ancestors span it, dimmed; others hide. */
	function zoom(f) {
		var zs = f.s, ze = f.s + f.v;
		if (f.d === 0) {
			unzoom();
			return;
		}
		zoomed = f;
		nodes.forEach(function (n) {
			var e = n.s + n.v;
			n.g.classList.remove("parent");
			if (n.d < f.d && n.s <= zs && e >= ze) {
				place(n, X0, W);
				n.g.classList.add("parent");
			} else if (n.d >= f.d && n.s >= zs && e <= ze &&
				   (n.d > f.d || n === f)) {
				place(n, X0 + (n.s - zs) / f.v * W, n.v / f.v * W);
			} else {
				n.g.classList.add("hide");
			}
		});
		unzoomBtn.classList.remove("hide");
	}
	function resetSearch() {
		nodes.forEach(function (n) {
			n.rect.setAttribute("fill", n.fill);
		});
		searching = false;
		searchBtn.textContent = "Search";
		matched.textContent = "";
	}
	/* Highlight frames whose name matches term (a regular expression,
	 * or a plain substring if it is not one); the matched share is the
	 * union of their value ranges, so nested matches count once. */
	function search(term) {
		var re = null, iv = [], sum = 0, end = -1, j;
		if (!term) {
			resetSearch();
			return 0;
		}
		try {
			re = new RegExp(term);
		} catch (e) {
			re = null;
		}
		nodes.forEach(function (n) {
			var hit = n.d > 0 &&
				(re ? re.test(n.name) : n.name.indexOf(term) >= 0);
			n.rect.setAttribute("fill", hit ? HIGHLIGHT : n.fill);
			if (hit)
				iv.push([n.s, n.s + n.v]);
		});
		iv.sort(function (a, b) { return a[0] - b[0]; });
		for (j = 0; j < iv.length; j++) {
			sum += Math.max(0, iv[j][1] - Math.max(iv[j][0], end));
			end = Math.max(end, iv[j][1]);
		}
		searching = true;
		searchBtn.textContent = "Reset Search";
		matched.textContent = "Matched: " + fmt(sum) + " (" +
			(TOTAL ? sum / TOTAL * 100 : 0).toFixed(2) + "%)";
		return sum;
	}
	function promptSearch() {
		var term = window.prompt("Search frames (regular expression):", "");
		if (term !== null)
			search(term);
	}
	function frameOf(ev) {
		for (var el = ev.target; el && el !== root; el = el.parentNode)
			if (el.fgNode)
				return el.fgNode;
		return null;
	}

	root.addEventListener("mouseover", function (ev) {
		var n = frameOf(ev);
		if (n)
			details.textContent = label(n.name + " (" + n.info + ")", W);
	});
	root.addEventListener("mouseout", function () {
		details.textContent = " ";
	});
	root.addEventListener("click", function (ev) {
		var n = frameOf(ev);
		if (n)
			zoom(n);
	});
	unzoomBtn.addEventListener("click", unzoom);
	searchBtn.addEventListener("click", function () {
		if (searching)
			resetSearch();
		else
			promptSearch();
	});
	window.addEventListener("keydown", function (ev) {
		if ((ev.ctrlKey || ev.metaKey) && (ev.key === "f" || ev.key === "F")) {
			ev.preventDefault();
			promptSearch();
		} else if (ev.key === "Escape") {
			if (searching)
				resetSearch();
			else if (zoomed)
				unzoom();
		}
	});
	/* For scripted checks (tools/check-svg-render.sh) and consoles. */
	window.flamegraph = {
		search: search, resetSearch: resetSearch, unzoom: unzoom,
		zoomed: function () { return zoomed ? zoomed.name : null; }
	};
})();
