#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# `make bench`, part 5: is the slowdown memtel-bpf estimates for its heap
# probes (hits x the per-hit cost calibrated at start, against the
# target's CPU time: the summary's "heap probes: ~X% estimated slowdown")
# the slowdown real programs show? Target: within +-30% of the measured one.
#
#   redis   Debian's redis-server (jemalloc) under redis-benchmark
#           (-t set,get -P 16), server and client pinned to different
#           CPUs; unprofiled against `memtel-bpf --pid SERVER` at default
#           settings, attached before the benchmark and stopped after it.
#           Measured: the throughput ratio (slowdown = bare/profiled - 1)
#           and the server's CPU per request (utime + stime, which
#           includes the probes' traps; steadier on a shared VM).
#   compile g++ -O1 -c of a generated C++ file (standard containers,
#           streams, lambdas: the front end allocates a lot), unprofiled
#           against `memtel-bpf -- time g++ ...`. Measured: the wall time
#           and the CPU time of the compiler tree as /usr/bin/time reports
#           them in both cases (the profiler's own start and calibration
#           are outside); the estimate is the summary's all-processes line.
#
# The binary's `--max-overhead 0` is passed when --help lists it, so the
# estimate is of every probe firing.
#
# Then the issue's throughput targets, in steady state (each run first
# drives BENCH_REDIS_WARM_REQUESTS requests, unmeasured, then measures
# BENCH_REDIS_STEADY_REQUESTS; the same for every configuration):
#   none     the bare server
#   default  `memtel-bpf --pid SERVER` with default settings (the
#            --max-overhead budget pauses the probes), run next to `none`
#            in every round: target >= 0.95 of bare (the median of the
#            per-round pairs), with a heap profile that names redis'
#            allocation sites
#   sampler  a second server launched as `memtel-bpf --sampler --
#            redis-server` (our in-process sampler, otel_memory USDT),
#            all its threads then pinned to the bare server's CPU:
#            target >= 0.98 of `fresh`
#   fresh    the same second server launched without memtel-bpf and
#            pinned the same way: the sampler's baseline, run next to it
#            in every round
#   preload  the same with LD_PRELOAD=libmemtel-sampler.so and no
#            profiler: the library's own share of the sampler's cost
# The sampler's verdict is the median of sampler / fresh over
# BENCH_SAMPLER_PAIRS (3) pairs per round, each pair run back to back: on
# this shared VM throughput drifts by up to 2x over minutes (the server's
# CPU per request does not), and a ratio of medians over rounds mixes
# that drift into the ratio. The ratio to
# the long-lived `none` server and the server's CPU per request are
# reported beside it, with the profiler's own CPU.
# and the compile at default settings (`default`), run beside the bare one in
# each round: target <= 1.10x wall, the median of the per-round pairs. Configurations alternate over
# BENCH_OVERHEAD_ROUNDS rounds (default BENCH_ROUNDS) and are reported as
# medians; agreement = estimate / measured slowdown (1.0 is perfect).
# Appends "probe_overhead" to results.json.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

. tools/bench/lib.sh

OROUNDS=${BENCH_OVERHEAD_ROUNDS:-$ROUNDS}
REQUESTS=${BENCH_REDIS_REQUESTS:-200000}
CXX_FUNCS=${BENCH_CXX_FUNCS:-10}
WARM_REQUESTS=${BENCH_REDIS_WARM_REQUESTS:-1000000}
STEADY_REQUESTS=${BENCH_REDIS_STEADY_REQUESTS:-2000000}
SAMPLER_PAIRS=${BENCH_SAMPLER_PAIRS:-3}
[[ "$OROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_OVERHEAD_ROUNDS must be a positive integer"
[[ "$SAMPLER_PAIRS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SAMPLER_PAIRS must be a positive integer"

[ -x "$MEMTEL" ] || die "$MEMTEL is missing: run 'make bench'"
SAMPLER_LIB=.output/libmemtel-sampler.so
[ -e "$SAMPLER_LIB" ] || die "$SAMPLER_LIB is missing: run 'make bench'"
SAMPLER_LIB=$(realpath "$SAMPLER_LIB")
for c in redis-server redis-benchmark g++ taskset; do
	command -v "$c" >/dev/null || die "$c not found (tools/deps.sh installs it)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time not found (Debian package 'time')"
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
	SRV_CPU=0 CLI_CPU=1
else
	SRV_CPU=0 CLI_CPU=0
fi
EXTRA=()
# (not `--help | grep -q`: grep leaving early kills the writer with
# SIGPIPE, and pipefail then drops the option at random)
HELP=$("$MEMTEL" --help 2>&1 || true)
grep -q -- '--max-overhead' <<<"$HELP" && EXTRA=(--max-overhead 0)
[ ${#EXTRA[@]} -gt 0 ] || echo "warning: $MEMTEL has no --max-overhead: the estimate rows run at its defaults" >&2

# estimate FILE: the estimated slowdown in % from a summary (the
# all-processes line when there is one, else the single one).
estimate() {
	awk '/^heap probes: all [0-9]+ processes: ~/ { all = $0 }
	     /^heap probes: ~/ { one = $0 }
	     END { l = all != "" ? all : one
		   if (l == "") exit 1
		   sub(/.*: ~/, "", l); sub(/%.*/, "", l); print l }' "$1"
}

# --- redis -----------------------------------------------------------------------

PORT=$((20000 + RANDOM % 20000))
taskset -c "$SRV_CPU" redis-server --port "$PORT" --save '' --appendonly no \
	--daemonize no --protected-mode no >"$TMP/redis.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for ((i = 0; i < 100; i++)); do
	redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
	kill -0 "$SERVER" 2>/dev/null || die "redis-server did not start: $(cat "$TMP/redis.log")"
	sleep 0.1
done
redis-cli -p "$PORT" ping >/dev/null 2>&1 || die "redis-server does not answer on port $PORT"

# bench_rps PORT REQUESTS OUT: one redis-benchmark run; prints the mean of
# its SET and GET throughputs.
bench_rps() {
	taskset -c "$CLI_CPU" redis-benchmark -p "$1" -t set,get -n "$2" \
		-P 16 -q >"$3" 2>&1 || die "redis-benchmark failed: $(cat "$3")"
	# "SET: 123456.78 requests per second, p50=..." (carriage returns
	# separate the progress lines)
	tr '\r' '\n' <"$3" |
		awk '/^(SET|GET): [0-9.]+ requests per second/ { s += $2; n++ }
		     END { if (n == 2) printf "%.1f\n", s / 2; else exit 1 }' ||
		die "no throughput in redis-benchmark's output: $(cat "$3")"
}

# redis_one CONFIG ROUND: one benchmark; appends to redis.tsv.
redis_one() {
	local cfg=$1 round=$2 tag="r-$1-$2" prof='' c0 c1 rps est=''
	if [ "$cfg" = memtel ]; then
		"$MEMTEL" --pid "$SERVER" -o "$TMP/$tag.out" "${EXTRA[@]}" \
			>"$TMP/$tag.prof" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		wait_for "$TMP/$tag.prof" '^memtel-bpf: attached;' 60 "$prof" ||
			die "memtel-bpf did not attach to redis-server"
	fi
	c0=$(proc_cpu_us "$SERVER")
	rps=$(bench_rps "$PORT" "$REQUESTS" "$TMP/$tag.bench")
	c1=$(proc_cpu_us "$SERVER")
	if [ -n "$prof" ]; then
		kill -INT "$prof"
		reap "$prof" 60
		[ "$REAP_RC" -eq 0 ] || die "memtel-bpf exited with status $REAP_RC: $(cat "$TMP/$tag.prof")"
		est=$(estimate "$TMP/$tag.prof") || die "no estimate in the summary: $(cat "$TMP/$tag.prof")"
		rm -rf "$TMP/$tag.out"
	fi
	printf 'redis\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "$rps" \
		"$(((c1 - c0) * 1000 / (2 * REQUESTS)))" "$est" >>"$TMP/overhead.tsv"
	printf '  round %d/%d  redis   %-7s %10s req/s  server %5s ns CPU/req  %s\n' \
		"$round" "$OROUNDS" "$cfg" "$rps" "$(((c1 - c0) * 1000 / (2 * REQUESTS)))" \
		"${est:+estimate $est%}" >&2
}

# steady_one CONFIG ROUND: warm-up, then the measured run; appends a
# "steady" row (throughput, on-ratio of the probes, sites named) to
# overhead.tsv.
steady_one() {
	local cfg=$1 round=$2 tag="s-$1-$2" prof='' port=$PORT rps srv='' on='' named='' c0 c1 est=''
	local p0=0 p1=0 t0 t1
	case $cfg in
	default)
		"$MEMTEL" --pid "$SERVER" -o "$TMP/$tag.out" >"$TMP/$tag.prof" 2>&1 &
		prof=$!
		PIDS+=("$prof")
		wait_for "$TMP/$tag.prof" '^memtel-bpf: attached;' 60 "$prof" ||
			die "memtel-bpf did not attach to redis-server"
		;;
	sampler | fresh | preload)
		port=$((PORT + 1))
		local args=(redis-server --port "$port" --save '' --appendonly no
			--daemonize no --protected-mode no)
		case $cfg in
		sampler)
			"$MEMTEL" --sampler -o "$TMP/$tag.out" -- "${args[@]}" \
				>"$TMP/$tag.prof" 2>&1 &
			prof=$!
			PIDS+=("$prof")
			wait_for "$TMP/$tag.prof" '^memtel-bpf: attached;' 60 "$prof" ||
				die "memtel-bpf --sampler -- redis-server did not start"
			;;
		fresh) "${args[@]}" >"$TMP/$tag.log" 2>&1 & srv=$! ;;
		preload)
			LD_PRELOAD=$SAMPLER_LIB "${args[@]}" >"$TMP/$tag.log" 2>&1 &
			srv=$!
			;;
		esac
		[ -z "$srv" ] || PIDS+=("$srv")
		for ((i = 0; i < 100; i++)); do
			redis-cli -p "$port" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
		[ -n "$srv" ] || srv=$(pgrep -f "redis-server.*:$port" | head -n 1)
		[ -n "$srv" ] && kill -0 "$srv" 2>/dev/null ||
			die "the $cfg redis-server is not running"
		# every thread on SRV_CPU, as `taskset -c` placed the bare
		# server's (-p alone moved only the main thread; memtel-bpf
		# itself stays unpinned, as in the default row)
		taskset -apc "$SRV_CPU" "$srv" >/dev/null
		;;
	esac
	[ -n "$srv" ] || srv=$SERVER
	bench_rps "$port" "$WARM_REQUESTS" "$TMP/$tag.warm" >/dev/null
	c0=$(proc_cpu_us "$srv")
	[ -z "$prof" ] || p0=$(proc_cpu_us "$prof")
	t0=$(date +%s%N)
	rps=$(bench_rps "$port" "$STEADY_REQUESTS" "$TMP/$tag.bench")
	t1=$(date +%s%N)
	c1=$(proc_cpu_us "$srv")
	[ -z "$prof" ] || p1=$(proc_cpu_us "$prof")
	if [ "$cfg" = fresh ] || [ "$cfg" = preload ]; then
		kill -TERM "$srv"
		reap "$srv" 30
	fi
	if [ -n "$prof" ]; then
		kill -INT "$prof"
		reap "$prof" 60
		[ "$REAP_RC" -eq 0 ] || die "memtel-bpf exited with status $REAP_RC: $(cat "$TMP/$tag.prof")"
		[ "$cfg" = default ] && { est=$(estimate "$TMP/$tag.prof") || est=''; }
		on=$(sed -n 's/^partial: heap probes on \([0-9.]*\)% .*/\1/p' "$TMP/$tag.prof" | head -n 1)
		[ -n "$on" ] || on=100
		# the heap profile names redis' own allocation sites
		if grep -Eq '^ +(<- )?(zmalloc|ztrymalloc|createClient|sdsnewlen|_sdsMakeRoomFor|createStringObject|createEmbeddedStringObject|processMultibulkBuffer)' \
			"$TMP/$tag.prof"; then
			named=yes
		else
			named=no
		fi
		rm -rf "$TMP/$tag.out"
	fi
	printf 'steady\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "$rps" "${on:-0}" "$named" >>"$TMP/overhead.tsv"
	# the server's CPU per request and the estimate, for the agreement
	# at default settings; the profiler's CPU and the run's wall time
	printf 'steadycpu\t%s\t%s\t%s\t0\t%s\n' "$cfg" "$round" \
		"$(((c1 - c0) * 1000 / (2 * STEADY_REQUESTS)))" "$est" >>"$TMP/overhead.tsv"
	[ -z "$prof" ] ||
		printf 'profcpu\t%s\t%s\t%s\t%s\t\n' "$cfg" "$round" "$((p1 - p0))" \
			"$(((t1 - t0) / 1000))" >>"$TMP/overhead.tsv"
	printf '  round %s/%d  steady  %-7s %10s req/s  %s\n' "$round" "$OROUNDS" "$cfg" "$rps" \
		"${named:+probes on ${on}% of the time, sites named: $named}" >&2
}

# --- compile ---------------------------------------------------------------------

# A C++ file the front end spends seconds on: CXX_FUNCS functions, each on
# its own struct, instantiating maps, unordered maps, shared_ptr, sort with
# a lambda, std::function and string streams.
python3 - "$CXX_FUNCS" >"$TMP/gen.cc" <<'PY'
import sys
n = int(sys.argv[1])
print("\n".join("#include <%s>" % h for h in ("algorithm", "functional", "map", "memory",
      "sstream", "string", "unordered_map", "vector")))
for i in range(n):
    print(f"""struct S{i} {{ int a; std::string s; std::vector<double> v; }};
template <typename T> struct W{i} {{
	std::map<std::string, std::vector<T>> m;
	std::unordered_map<int, std::shared_ptr<T>> u;
}};
std::string f{i}(const std::vector<S{i}> &in)
{{
	W{i}<S{i}> w;
	std::ostringstream os;
	for (const auto &x : in) {{
		w.m[x.s].push_back(x);
		w.u[x.a] = std::make_shared<S{i}>(x);
	}}
	std::vector<std::pair<std::string, size_t>> r;
	for (auto &kv : w.m)
		r.emplace_back(kv.first, kv.second.size());
	std::sort(r.begin(), r.end(), [](const auto &a, const auto &b) {{
		return a.second < b.second || (a.second == b.second && a.first < b.first);
	}});
	std::function<int(int)> g = [&](int k) {{ return k ? g(k - 1) + (int)r.size() : {i}; }};
	for (auto &p : r)
		os << p.first << ':' << p.second << ':' << g(3) << ';';
	return os.str();
}}""")
PY

# compile_one CONFIG ROUND: one compile; appends to overhead.tsv.
compile_one() {
	local cfg=$1 round=$2 tag="c-$1-$2" wall cpu est='' cmd
	cmd=(/usr/bin/time -f 'time %e %U %S' -o "$TMP/$tag.time" g++ -O1 -c "$TMP/gen.cc" -o "$TMP/$tag.o")
	if [ "$cfg" = memtel ] || [ "$cfg" = default ]; then
		local args=("${EXTRA[@]}")
		[ "$cfg" = default ] && args=()
		"$MEMTEL" -o "$TMP/$tag.out" "${args[@]}" -- "${cmd[@]}" >"$TMP/$tag.prof" 2>&1 ||
			die "memtel-bpf -- g++ failed: $(cat "$TMP/$tag.prof")"
		est=$(estimate "$TMP/$tag.prof") || die "no estimate in the summary: $(cat "$TMP/$tag.prof")"
		rm -rf "$TMP/$tag.out"
	else
		"${cmd[@]}" || die "g++ failed"
	fi
	read -r wall cpu < <(awk '$1 == "time" { print $2, $3 + $4 }' "$TMP/$tag.time")
	[ -n "$cpu" ] || die "no time for $tag: $(cat "$TMP/$tag.time")"
	printf 'compile\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "$wall" "$cpu" "$est" >>"$TMP/overhead.tsv"
	printf '  round %d/%d  compile %-7s %6s s wall %6s s CPU  %s\n' "$round" "$OROUNDS" \
		"$cfg" "$wall" "$cpu" "${est:+estimate $est%}" >&2
}

mkdir -p "$OUT"
: >"$TMP/overhead.tsv"
echo "bench (probe overhead): redis and compile, bare vs profiled x $OROUNDS rounds (alternating)" >&2
for ((r = 1; r <= OROUNDS; r++)); do
	if ((r % 2)); then order=(none memtel); else order=(memtel none); fi
	for cfg in "${order[@]}"; do redis_one "$cfg" "$r"; done
	# the default compile beside the bare one (the redis runs below
	# leave the machine in another state: a default compile after them
	# was 1.23x of a bare one before them, 1.07x beside it)
	if ((r % 2)); then corder=(none default memtel); else corder=(memtel default none); fi
	for cfg in "${corder[@]}"; do compile_one "$cfg" "$r"; done
	if ((r % 2)); then
		order=(none default fresh sampler preload)
	else
		order=(preload sampler fresh default none)
	fi
	for cfg in "${order[@]}"; do steady_one "$cfg" "$r"; done
	# more sampler/fresh pairs: their difference is ~1-2%, the spread
	# of one pair's ratio here +-3%
	for ((k = 2; k <= SAMPLER_PAIRS; k++)); do
		if (((r + k) % 2)); then order=(fresh sampler); else order=(sampler fresh); fi
		for cfg in "${order[@]}"; do steady_one "$cfg" "$r.$k"; done
	done
done
kill -TERM "$SERVER" 2>/dev/null || true

python3 - "$TMP/overhead.tsv" "$TMP/probe_overhead.json" "$OROUNDS" "${EXTRA[*]:-}" \
	"$WARM_REQUESTS" "$STEADY_REQUESTS" <<'PY'
import json, statistics, sys, time

tsv, out, rounds, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rows = {}
steady = {}
steady_by_round = {}
for line in open(tsv):
    what, cfg, rnd, a, b, est = line.rstrip("\n").split("\t")
    if what == "steady":
        r = steady.setdefault(cfg, {"rps": [], "on_pct": [], "named": []})
        r["rps"].append(float(a))
        steady_by_round.setdefault(cfg, {})[rnd] = float(a)
        r["on_pct"].append(float(b))
        r["named"].append(est)
        continue
    r = rows.setdefault(what, {}).setdefault(cfg, {"a": [], "b": [], "est": []})
    r["a"].append(float(a))
    r["b"].append(float(b))
    if est:
        r["est"].append(float(est))
med = statistics.median
TOL = 0.30

def agree(est, measured):
    return est / measured if measured > 0 else None

res = {}
rd = rows["redis"]
rps0, rps1 = med(rd["none"]["a"]), med(rd["memtel"]["a"])
cpu0, cpu1 = med(rd["none"]["b"]), med(rd["memtel"]["b"])
est = med(rd["memtel"]["est"])
res["redis"] = {
    "throughput_rps": {"none": rps0, "memtel": rps1},
    "throughput_ratio": rps1 / rps0,
    "slowdown_throughput_pct": (rps0 / rps1 - 1) * 100,
    "server_cpu_ns_per_request": {"none": cpu0, "memtel": cpu1},
    "slowdown_cpu_pct": (cpu1 / cpu0 - 1) * 100,
    "estimated_pct": est,
    "rounds": {k: v for k, v in rd.items()},
}
cp = rows["compile"]
w0, w1 = med(cp["none"]["a"]), med(cp["memtel"]["a"])
c0, c1 = med(cp["none"]["b"]), med(cp["memtel"]["b"])
est = med(cp["memtel"]["est"])
res["compile"] = {
    "wall_s": {"none": w0, "memtel": w1}, "wall_ratio": w1 / w0,
    "slowdown_wall_pct": (w1 / w0 - 1) * 100,
    "cpu_s": {"none": c0, "memtel": c1},
    "slowdown_cpu_pct": (c1 / c0 - 1) * 100,
    "estimated_pct": est,
    "rounds": {k: v for k, v in cp.items()},
}
for k, key in (("redis", "slowdown_throughput_pct"), ("compile", "slowdown_wall_pct")):
    e = res[k]
    e["agreement"] = agree(e["estimated_pct"], e[key])
    e["agreement_cpu"] = agree(e["estimated_pct"], e["slowdown_cpu_pct"])
    e["within_30pct"] = e["agreement"] is not None and abs(e["agreement"] - 1) <= TOL
w2 = med(cp["default"]["a"])
res["compile"]["wall_s"]["default"] = w2
# the verdict: the median over rounds of default / bare of the same
# round, run back to back (drift over minutes stays out of it)
pairs = sorted(d / n for d, n in zip(cp["default"]["a"], cp["none"]["a"]) if n > 0)
res["compile"]["wall_ratio_default"] = med(pairs)
res["compile"]["wall_ratio_default_pairs"] = pairs
res["compile"]["wall_ratio_default_of_medians"] = w2 / w0
res["compile"]["default_target_met"] = med(pairs) <= 1.10
s0 = med(steady["none"]["rps"])
def paired(cfg, base):
    """median of cfg / base over the pairs (the same round key)"""
    a = steady_by_round.get(cfg, {})
    b = steady_by_round.get(base, {})
    rs = [a[r] / b[r] for r in a if b.get(r, 0) > 0]
    return (med(rs), sorted(rs)) if rs else (None, [])

sp, sp_all = paired("sampler", "fresh")
pp, pp_all = paired("preload", "fresh")
sc = rows.get("steadycpu", {})
def cpu_ratio(cfg, base):
    if cfg in sc and base in sc and med(sc[base]["a"]) > 0:
        return med(sc[cfg]["a"]) / med(sc[base]["a"])
    return None
pc = rows.get("profcpu", {}).get("sampler")
prof_share = (med([c / w for c, w in zip(pc["a"], pc["b"]) if w > 0])
              if pc and any(pc["b"]) else None)
res["steady"] = {
    "requests": {"warm": int(sys.argv[5]), "measured": int(sys.argv[6])},
    "throughput_rps": {k: med(v["rps"]) for k, v in steady.items()},
    # default and none run back to back on the same server in every
    # round: judged by those pairs, as the sampler and the compile are
    "ratio_default": paired("default", "none")[0],
    "ratio_default_rounds": paired("default", "none")[1],
    "ratio_default_of_medians": med(steady["default"]["rps"]) / s0,
    "ratio_sampler_vs_none": med(steady["sampler"]["rps"]) / s0,
    "ratio_sampler": sp,
    "ratio_sampler_rounds": sp_all,
    "ratio_preload": pp,
    "ratio_preload_rounds": pp_all,
    "server_cpu_per_request_ratio": {"sampler": cpu_ratio("sampler", "fresh"),
                                     "preload": cpu_ratio("preload", "fresh")},
    "profiler_cpu_share_of_a_core": prof_share,
    "probes_on_pct_default": med(steady["default"]["on_pct"]),
    "sites_named_default": all(x == "yes" for x in steady["default"]["named"]),
    "rounds": steady,
}
# the estimate at default settings against the server's CPU per request
# and the compile's wall and CPU time
if "none" in sc and "default" in sc and sc["default"]["est"]:
    m = (med(sc["default"]["a"]) / med(sc["none"]["a"]) - 1) * 100
    e = med(sc["default"]["est"])
    res["steady"]["default_estimate"] = {
        "measured_cpu_pct": m, "estimated_pct": e, "agreement_cpu": agree(e, m)}
if cp["default"]["est"]:
    e = med(cp["default"]["est"])
    mw = (w2 / w0 - 1) * 100
    mc = (med(cp["default"]["b"]) / c0 - 1) * 100
    res["compile"]["default_estimate"] = {
        "measured_wall_pct": mw, "measured_cpu_pct": mc, "estimated_pct": e,
        "agreement": agree(e, mw), "agreement_cpu": agree(e, mc)}
res["steady"]["default_target_met"] = (res["steady"]["ratio_default"] >= 0.95 and
                                       res["steady"]["sites_named_default"])
res["steady"]["sampler_target_met"] = sp is not None and sp >= 0.98
doc = {
    "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rounds": rounds,
    "memtel_args": extra, "target": "estimate within +-30% of the measured slowdown",
    **res,
    "notes": "agreement = estimated / measured slowdown (throughput for redis, wall "
             "for compile); agreement_cpu uses the target's CPU time instead, which "
             "a shared VM disturbs less. Medians over alternating rounds.",
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)

def fmt(v, spec):
    return "-" if v is None else format(v, spec)

print()
print(f"Heap probe overhead: estimated vs measured slowdown, median of {rounds} rounds"
      f"{' (' + extra + ')' if extra else ''}")
print(f"{'workload':<10}{'measured':>10}{'(CPU)':>9}{'estimated':>11}{'agreement':>11}{'(CPU)':>8}  target")
for k, key in (("redis", "slowdown_throughput_pct"), ("compile", "slowdown_wall_pct")):
    e = res[k]
    print(f"{k:<10}{e[key]:>9.1f}%{e['slowdown_cpu_pct']:>8.1f}%{e['estimated_pct']:>10.1f}%"
          f"{fmt(e['agreement'], '.2f'):>11}{fmt(e['agreement_cpu'], '.2f'):>8}  "
          f"{'met' if e['within_30pct'] else 'NOT met'}")
r = res["redis"]
print(f"redis: {r['throughput_rps']['none']:.0f} -> {r['throughput_rps']['memtel']:.0f} req/s "
      f"(x{r['throughput_ratio']:.2f}); compile: {res['compile']['wall_s']['none']:.1f} -> "
      f"{res['compile']['wall_s']['memtel']:.1f} s (x{res['compile']['wall_ratio']:.2f})")
st = res["steady"]
print()
print("Throughput targets (steady state, default settings)")
print(f"redis default: x{st['ratio_default']:.3f} of bare, median of per-round pairs (target >= 0.95), "
      f"probes on {st['probes_on_pct_default']:.0f}% of the time, allocation sites named: "
      f"{'yes' if st['sites_named_default'] else 'NO'}  "
      f"{'met' if st['default_target_met'] else 'NOT met'}")
print("  pairs: " + " ".join(f"{x:.3f}" for x in st["ratio_default_rounds"]) +
      f"; x{st['ratio_default_of_medians']:.3f} as a ratio of medians")
print(f"redis --sampler: x{fmt(st['ratio_sampler'], '.3f')} of a fresh bare server, median of "
      f"per-round pairs (target >= 0.98)  {'met' if st['sampler_target_met'] else 'NOT met'}")
print(f"  pairs: {' '.join(format(x, '.3f') for x in st['ratio_sampler_rounds'])}; "
      f"x{st['ratio_sampler_vs_none']:.3f} of the long-lived bare server (ratio of medians)")
cr = st["server_cpu_per_request_ratio"]
ps = st["profiler_cpu_share_of_a_core"]
print(f"  library alone (preload, no profiler): x{fmt(st['ratio_preload'], '.3f')}; server CPU "
      f"per request x{fmt(cr['sampler'], '.3f')} sampled, x{fmt(cr['preload'], '.3f')} preload only; "
      f"memtel-bpf itself {fmt(ps * 100 if ps is not None else None, '.2f')}% of a core")
c = res["compile"]
print(f"compile default: {c['wall_s']['default']:.1f} s vs {c['wall_s']['none']:.1f} s bare, "
      f"x{c['wall_ratio_default']:.3f}, median of per-round pairs (target <= 1.10)  "
      f"{'met' if c['default_target_met'] else 'NOT met'}")
print("  pairs: " + " ".join(f"{x:.3f}" for x in c["wall_ratio_default_pairs"]) +
      f"; x{c['wall_ratio_default_of_medians']:.3f} as a ratio of medians")
print()
print("Estimate at default settings (the budget's regime; measured slowdown is small, so noisy)")
d = st.get("default_estimate")
if d:
    print(f"redis default: estimated {d['estimated_pct']:.1f}%, server CPU per request "
          f"+{d['measured_cpu_pct']:.1f}%, agreement (CPU) {fmt(d['agreement_cpu'], '.2f')}")
d = c.get("default_estimate")
if d:
    print(f"compile default: estimated {d['estimated_pct']:.1f}%, measured wall +{d['measured_wall_pct']:.1f}% "
          f"CPU +{d['measured_cpu_pct']:.1f}%, agreement {fmt(d['agreement'], '.2f')} "
          f"(CPU {fmt(d['agreement_cpu'], '.2f')})")
PY
merge_results probe_overhead "$TMP/probe_overhead.json"
