#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-test: normal-only
# The deploy/ files agree with each other and with the metrics memtel-bpf
# sends. No BPF needed; promtool (Debian package prometheus) and PyYAML
# (python3-yaml) must be installed.
#  - prometheus-alerts.yaml passes `promtool check rules` and its unit
#    tests (prometheus-alerts.test.yaml); prometheus.yml `promtool check
#    config`; critical and high alerts exist, with severity labels;
#  - otel-collector.yaml: otlp receiver on 4317 (grpc) and 4318 (http),
#    batch, prometheus exporter on :8889 with resource_to_telemetry_
#    conversion, debug exporter, one metrics pipeline through them all;
#  - grafana-dashboard.json: the four panels by title; every PromQL
#    expression (dashboard and alerts) names only series the collector
#    makes of our 13 metrics (tests/lib/otlp_wire.py ports its name
#    translation), only labels they carry, parses (promtool, as recording
#    rules), and legends use labels the query keeps;
#  - README.md gives the Prometheus name of every metric.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"
# shellcheck source=../lib/otlp.sh
. "$(dirname "$0")/../lib/otlp.sh"

D=$MEMTEL_ROOT/deploy
command -v promtool >/dev/null || fail "promtool not installed (Debian package prometheus)"
python3 -c 'import yaml' 2>/dev/null || fail "PyYAML not installed (Debian package python3-yaml)"
for f in otel-collector.yaml prometheus.yml prometheus-alerts.yaml \
	prometheus-alerts.test.yaml grafana-dashboard.json README.md; do
	assert_file "$D/$f"
done

# promtool resolves rule_files relative to the file it checks
(cd "$D" && promtool check rules prometheus-alerts.yaml) >"$W/rules.txt" 2>&1 ||
	fail "promtool check rules: $(cat "$W/rules.txt")"
(cd "$D" && promtool test rules prometheus-alerts.test.yaml) >"$W/rtest.txt" 2>&1 ||
	fail "promtool test rules: $(cat "$W/rtest.txt")"
(cd "$D" && promtool check config prometheus.yml) >"$W/config.txt" 2>&1 ||
	fail "promtool check config: $(cat "$W/config.txt")"
sed 's/^/# /' "$W/rules.txt" "$W/rtest.txt"

pycheck deploy "$D" "$W/dashboard-rules.yaml" <<'EOF'
import json, re, sys
import yaml
import otlp_wire as w

d, rules_out = sys.argv[1:]
errors, notes = [], []
PROM = w.prom_names()
notes.append("Prometheus names: %s" % ", ".join(sorted(PROM)))
# labels a series can carry: its attributes, the resource attributes as
# resource_to_telemetry_conversion labels them, what Prometheus adds
LABELS = {k for _, _, ks in w.METRICS.values() for k in ks}
LABELS |= {"service_name", "service_namespace", "service_instance_id",
           "host_name", "process_pid", "process_executable_name",
           "process_executable_path", "container_id", "telemetry_sdk_name",
           "telemetry_sdk_language", "telemetry_sdk_version",
           "deployment_environment", "otel_scope_name", "otel_scope_version",
           "job", "instance", "le"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "and", "or", "unless", "offset"}

def check_expr(where, expr, legend=None):
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    series = set(re.findall(r"\bmemory_[A-Za-z0-9_:]*", bare))
    if not series:
        errors.append("%s: no memtel-bpf metric in %r" % (where, expr))
    for s in sorted(series - set(PROM)):
        errors.append("%s: %s is not a series the collector makes of our "
                      "metrics (%r)" % (where, s, expr))
    used = set()
    for grp in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", bare):
        used |= {l.strip() for l in grp.split(",") if l.strip()}
    for m in re.findall(r"\{([^}]*)\}", bare):
        used |= set(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)", m))
    for l in sorted(used - LABELS):
        errors.append("%s: label %s is not on our series (%r)"
                      % (where, l, expr))
    if legend:
        kept = set()
        for grp in re.findall(r"\bby\s*\(([^)]*)\)", bare):
            kept = {l.strip() for l in grp.split(",") if l.strip()}
        for l in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", legend):
            if kept and l not in kept:
                errors.append("%s: legend uses {{%s}}, the query keeps only "
                              "%s" % (where, l, sorted(kept)))
    return series

# --- collector -----------------------------------------------------------
with open(d + "/otel-collector.yaml") as f:
    col = yaml.safe_load(f)
try:
    protos = col["receivers"]["otlp"]["protocols"]
    if not str(protos["grpc"]["endpoint"]).endswith(":4317"):
        errors.append("otlp grpc endpoint %r" % protos["grpc"]["endpoint"])
    if not str(protos["http"]["endpoint"]).endswith(":4318"):
        errors.append("otlp http endpoint %r" % protos["http"]["endpoint"])
    if "batch" not in col["processors"]:
        errors.append("no batch processor")
    pe = col["exporters"]["prometheus"]
    if not str(pe["endpoint"]).endswith(":8889"):
        errors.append("prometheus exporter endpoint %r" % pe["endpoint"])
    if pe.get("resource_to_telemetry_conversion", {}).get("enabled") is not True:
        errors.append("prometheus exporter without resource_to_telemetry_conversion")
    if pe.get("add_metric_suffixes") is False or "translation_strategy" in pe \
            or "namespace" in pe:
        errors.append("prometheus exporter naming changed: the dashboard and "
                      "alerts assume the default names")
    if "debug" not in col["exporters"]:
        errors.append("no debug exporter")
    pipe = col["service"]["pipelines"]["metrics"]
    if pipe.get("receivers") != ["otlp"] or "batch" not in pipe.get("processors", []) \
            or not {"prometheus", "debug"} <= set(pipe.get("exporters", [])):
        errors.append("metrics pipeline %s" % pipe)
    for kind in ("receivers", "processors", "exporters"):
        for p in col["service"]["pipelines"].values():
            for c in p.get(kind, []):
                if c not in col[kind]:
                    errors.append("pipeline uses undefined %s %s" % (kind, c))
except (KeyError, TypeError) as e:
    errors.append("otel-collector.yaml lacks %s" % e)

# --- dashboard -----------------------------------------------------------
with open(d + "/grafana-dashboard.json") as f:
    dash = json.load(f)
flat = []
for p in dash.get("panels", []):
    if p.get("type") == "row":
        flat += p.get("panels", [])
    else:
        flat.append(p)
titles = [p.get("title") for p in flat]
notes.append("dashboard panels: %s" % titles)
want = ["Memory overview", "Leak alerts", "Allocation efficiency",
        "Top allocators"]
if titles != want:
    errors.append("dashboard panels %s, expected %s" % (titles, want))
variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
rules = {"groups": [{"name": "dashboard", "rules": []}]}
per_panel = {}
for p in flat:
    t = p.get("title")
    targets = p.get("targets", [])
    if not targets:
        errors.append("panel %s has no queries" % t)
    series = set()
    for tg in targets:
        expr = tg.get("expr", "")
        where = "panel %r query %s" % (t, tg.get("refId"))
        series |= check_expr(where, expr, tg.get("legendFormat"))
        for v in re.findall(r"\$\{?([A-Za-z_]\w*)", expr):
            if v not in variables and not v.startswith("__"):
                errors.append("%s: unknown variable $%s" % (where, v))
        ds = (tg.get("datasource") or p.get("datasource") or {}).get("uid")
        if ds != "${datasource}":
            errors.append("%s: datasource %r, expected ${datasource}"
                          % (where, ds))
        # as Grafana would send it
        q = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
        q = re.sub(r"\$\{?\w+\}?", ".*", q)
        rules["groups"][0]["rules"].append(
            {"record": "dashboard:%s:%s" % (len(rules["groups"][0]["rules"]),
                                            tg.get("refId")), "expr": q})
    per_panel[t] = (series, " ".join(tg.get("expr", "") for tg in targets))
need = {
    "Memory overview": ["memory_rss_bytes", "memory_heap_bytes",
                        "memory_virtual_bytes"],
    "Leak alerts": ["memory_leak_count_total",
                    "memory_leak_growth_rate_mb_h_megabytes_per_hour",
                    "memory_leak_size_bytes_"],
    "Allocation efficiency": ["memory_allocation_efficiency_score_ratio",
                              "memory_allocation_distribution_total"],
    "Top allocators": ["memory_allocation_bytes_total"],
}
for t, names in need.items():
    series, text = per_panel.get(t, (set(), ""))
    for n in names:
        if not any(s.startswith(n) for s in series):
            errors.append("panel %r does not show %s" % (t, n))
if "severity" not in per_panel.get("Leak alerts", (0, ""))[1]:
    errors.append("panel 'Leak alerts' does not split leak size by severity")
if "component" not in per_panel.get("Allocation efficiency", (0, ""))[1]:
    errors.append("panel 'Allocation efficiency' does not show components")
if "size_category" not in per_panel.get("Allocation efficiency", (0, ""))[1]:
    errors.append("panel 'Allocation efficiency' lacks the size distribution")
top = per_panel.get("Top allocators", (0, ""))[1]
if not re.search(r"\btopk\s*\(", top) or not re.search(r"by\s*\(\s*component\s*\)", top):
    errors.append("panel 'Top allocators' is not a topk by component: %r" % top)
with open(rules_out, "w") as f:
    yaml.safe_dump(rules, f)

# --- alerts ----------------------------------------------------------------
with open(d + "/prometheus-alerts.yaml") as f:
    alerts = yaml.safe_load(f)
sev = set()
for g in alerts["groups"]:
    for r in g["rules"]:
        if "alert" not in r:
            continue
        check_expr("alert %s" % r["alert"], r["expr"])
        if "memory_leak_" not in r["expr"]:
            errors.append("alert %s is not on memory_leak_ metrics" % r["alert"])
        sev.add(r.get("labels", {}).get("severity"))
notes.append("alert severities: %s" % sorted(map(str, sev)))
if not {"critical", "high"} <= sev:
    errors.append("alerts with severity %s, expected critical and high"
                  % sorted(map(str, sev)))

# --- README: the name table ---------------------------------------------------
with open(d + "/README.md") as f:
    readme = f.read()
for name, (kind, unit, _) in w.METRICS.items():
    pn = w.prom_name(name, unit, kind)
    if name not in readme or pn not in readme:
        errors.append("README.md does not map %s to %s" % (name, pn))
w.report(errors, notes)
EOF
(cd "$W" && promtool check rules dashboard-rules.yaml) >"$W/dash-promql.txt" 2>&1 ||
	fail "dashboard PromQL does not parse: $(cat "$W/dash-promql.txt")"
sed 's/^/# /' "$W/dash-promql.txt"
log "deploy/ files consistent"
