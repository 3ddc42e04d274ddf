#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memtel-test: normal-only
# deploy/kubernetes/ and deploy/Dockerfile, checked without a cluster:
#  - every manifest document validates against the Kubernetes API schemas
#    (npm kubernetes-models, and @kubernetes-models/prometheus-operator for
#    the PodMonitor; pinned versions installed into .output/ on first use)
#    and has no field its type does not declare (a misspelling);
#  - our own rules: hostPID, no privileged, exactly the capabilities the
#    agent needs (drop ALL, no SYS_ADMIN), read-only root, liveness on
#    /healthz and readiness on /readyz at the listen port, NODE_NAME from
#    spec.nodeName, the OTLP endpoint at the Collector Service, tolerations
#    for every taint, requests and limits, /sys/fs/cgroup read-only, no
#    RBAC for the agent, scrape annotations and a PodMonitor that match;
#  - the Collector config: every pipeline's components defined,
#    k8sattributes in the metrics and profiles pipelines associating by
#    k8s.pod.uid and container.id, the profiles feature gate passed;
#  - the Dockerfile: bookworm, two stages, `agent` as the entrypoint's
#    argument, and a runtime stage that installs the package of every
#    shared library the built binary links (ldd + dpkg -S here);
#  - each checker rejects a broken copy (so none can pass vacuously).
# Needs node and npm (the npm registry on first use) and python3-yaml.
set -u
# shellcheck source=../lib/common.sh
. "$(dirname "$0")/../lib/common.sh"

D=$MEMTEL_ROOT/deploy
K=$D/kubernetes
command -v node >/dev/null || fail "node not installed (Debian packages nodejs npm)"
command -v npm >/dev/null || fail "npm not installed (Debian package npm)"
python3 -c 'import yaml' 2>/dev/null || fail "PyYAML not installed (python3-yaml)"
MANIFESTS=(namespace.yaml agent.yaml agent-podmonitor.yaml collector.yaml)
for f in "${MANIFESTS[@]}" collector-config.yaml kustomization.yaml; do
	assert_file "$K/$f"
done
assert_file "$D/Dockerfile"

# --- schema validation (kubernetes-models) ----------------------------------
N=$MEMTEL_ROOT/.output/deploy-k8s-node
PKG='{"name":"memtel-deploy-check","private":true,"dependencies":{"kubernetes-models":"5.1.0","@kubernetes-models/prometheus-operator":"6.0.0","js-yaml":"4.1.0"}}'
mkdir -p "$N" || fail "cannot create $N"
if [ "$(cat "$N/package.json" 2>/dev/null)" != "$PKG" ] || [ ! -d "$N/node_modules/kubernetes-models" ]; then
	printf '%s\n' "$PKG" >"$N/package.json"
	(cd "$N" && npm install --no-audit --no-fund --ignore-scripts --no-package-lock) \
		>"$W/npm.txt" 2>&1 || fail "npm install: $(tail -n 5 "$W/npm.txt")"
fi
cat >"$N/validate.mjs" <<'EOF'
// Validate every YAML document of the files given against the Kubernetes
// API schemas of kubernetes-models; print one line per document. Its
// validate() ignores unknown fields, which the API server (strict field
// validation) and a careful reader would not: a misspelt "hostPid" or
// "readOnlyRootFileSystem" silently does nothing. So also walk each
// document along the package's type declarations (.d.ts) and report every
// field its type does not declare.
import fs from "node:fs";
import path from "node:path";
import url from "node:url";
import yaml from "js-yaml";
const groups = {
  "v1": "kubernetes-models/v1",
  "apps/v1": "kubernetes-models/apps/v1",
  "rbac.authorization.k8s.io/v1": "kubernetes-models/rbac.authorization.k8s.io/v1",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
};
const NM = path.join(path.dirname(url.fileURLToPath(import.meta.url)), "node_modules");
// interfaces by their exported full name (IIoK8sApiCoreV1PodSpec), and the
// top-level ones by file (apps/v1/DaemonSet.d.ts -> IDaemonSet)
const ifaces = new Map(), byFile = new Map();
function scan(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) { if (e.name !== "_schemas") scan(p); continue; }
    if (!e.name.endsWith(".d.ts")) continue;
    const text = fs.readFileSync(p, "utf8");
    const local = new Map();
    for (const m of text.matchAll(/^export interface (\w+)[^{\n]*\{\n([\s\S]*?)^\}/gm)) {
      const props = new Map();
      for (const pm of m[2].matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm))
        props.set(pm[1], pm[2]);
      local.set(m[1], props);
    }
    for (const m of text.matchAll(/^export type \{ (\w+) as (\w+)/gm))
      if (local.has(m[1])) ifaces.set(m[2], local.get(m[1]));
    byFile.set(p, local);
  }
}
scan(path.join(NM, "kubernetes-models"));
scan(path.join(NM, "@kubernetes-models"));
function unknownFields(obj, props, where, out) {
  if (!props || typeof obj !== "object" || obj === null) return;
  for (const [k, v] of Object.entries(obj)) {
    if (!props.has(k)) { out.push(`${where}.${k}`); continue; }
    const t = props.get(k), arr = t.match(/^Array<(\w+)>$/);
    if (arr) {
      if (Array.isArray(v))
        v.forEach((x, i) => unknownFields(x, ifaces.get(arr[1]), `${where}.${k}[${i}]`, out));
    } else if (/^\w+$/.test(t)) {
      unknownFields(v, ifaces.get(t), `${where}.${k}`, out);
    }
  }
}
let bad = 0, n = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of yaml.loadAll(fs.readFileSync(file, "utf8"))) {
    if (!doc) continue;
    n++;
    const where = `${file.split("/").pop()}: ${doc.kind}/${doc.metadata?.name}`;
    try {
      const mod = groups[doc.apiVersion];
      if (!mod) throw new Error(`unknown apiVersion ${doc.apiVersion}`);
      const Kind = (await import(mod))[doc.kind];
      if (!Kind) throw new Error(`unknown kind ${doc.kind} in ${doc.apiVersion}`);
      new Kind(doc).validate();
      const top = byFile.get(path.join(NM, mod, doc.kind + ".d.ts"))?.get("I" + doc.kind);
      if (!top) throw new Error(`no type declarations for ${doc.kind}`);
      const unknown = [];
      unknownFields(doc, top, doc.kind, unknown);
      if (unknown.length) throw new Error(`unknown fields: ${unknown.join(", ")}`);
      console.log(`ok ${where}`);
    } catch (e) {
      bad++;
      console.log(`FAIL: ${where}: ${e.message}`);
    }
  }
}
console.log(`${n} documents, ${bad} invalid (${ifaces.size} types known)`);
process.exit(bad || !n ? 1 : 0);
EOF
files=()
for f in "${MANIFESTS[@]}"; do files+=("$K/$f"); done
node "$N/validate.mjs" "${files[@]}" >"$W/schema.txt" 2>&1 ||
	fail "schema validation: $(grep -m3 FAIL "$W/schema.txt" || tail -n 3 "$W/schema.txt")"
sed 's/^/# /' "$W/schema.txt"
# the validator must be able to say no
mkdir -p "$W/bad-schema"
sed -e 's/hostPID: true/hostPID: "yes"/' -e 's/containerPort: 9464/containerPort: "x"/' \
	"$K/agent.yaml" >"$W/bad-schema/agent.yaml"
node "$N/validate.mjs" "$W/bad-schema/agent.yaml" >"$W/schema-bad.txt" 2>&1 &&
	fail "schema validation accepted hostPID: \"yes\": $(cat "$W/schema-bad.txt")"
grep -q 'hostPID must be boolean' "$W/schema-bad.txt" ||
	fail "schema validation did not name hostPID: $(cat "$W/schema-bad.txt")"
# ... and to see a misspelt field, at any depth
sed -e 's/readOnlyRootFilesystem: true/readOnlyRootFileSystem: true/' \
	-e 's/^      hostPID: true/      hostPid: true/' \
	"$K/agent.yaml" >"$W/bad-schema/agent.yaml"
node "$N/validate.mjs" "$W/bad-schema/agent.yaml" >"$W/schema-bad.txt" 2>&1 &&
	fail "schema validation accepted misspelt fields: $(cat "$W/schema-bad.txt")"
for f in spec.template.spec.hostPid 'containers\[0\].securityContext.readOnlyRootFileSystem'; do
	grep -q "unknown fields: .*$f" "$W/schema-bad.txt" ||
		fail "schema validation missed the misspelt $f: $(cat "$W/schema-bad.txt")"
done

# --- our rules -----------------------------------------------------------
cat >"$W/rules.py" <<'EOF'
import re, sys
import yaml

d = sys.argv[1]
k = d + "/kubernetes"
errors = []
docs = []
for f in ("namespace.yaml", "agent.yaml", "agent-podmonitor.yaml", "collector.yaml"):
    with open(k + "/" + f) as fh:
        docs += [x for x in yaml.safe_load_all(fh) if x]
def find(kind, name=None):
    return [x for x in docs if x.get("kind") == kind and
            (name is None or x["metadata"]["name"] == name)]
def one(kind, name):
    got = find(kind, name)
    if len(got) != 1:
        errors.append("%d %s/%s, expected one" % (len(got), kind, name))
        return {}
    return got[0]

NEEDED_CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "CHECKPOINT_RESTORE", "DAC_READ_SEARCH", "SYSLOG"}
ds = one("DaemonSet", "memtel-agent")
pod = ds.get("spec", {}).get("template", {}).get("spec", {})
tmeta = ds.get("spec", {}).get("template", {}).get("metadata", {})
if pod.get("hostPID") is not True:
    errors.append("DaemonSet without hostPID: true")
if pod.get("hostNetwork"):
    errors.append("DaemonSet uses hostNetwork: not needed")
if not any(t.get("operator") == "Exists" and not t.get("key") and not t.get("effect")
           for t in pod.get("tolerations", [])):
    errors.append("DaemonSet does not tolerate every taint (operator: Exists, no key)")
sa = pod.get("serviceAccountName")
if not find("ServiceAccount", sa) or sa == "default":
    errors.append("DaemonSet's ServiceAccount %r not defined" % sa)
for b in find("RoleBinding") + find("ClusterRoleBinding"):
    for s in b.get("subjects", []):
        if s.get("name") == sa:
            errors.append("the agent's ServiceAccount is bound to %s: it needs no RBAC"
                          % b["roleRef"]["name"])
if pod.get("automountServiceAccountToken") is not False:
    errors.append("the agent mounts an API token it never uses")
cs = pod.get("containers", [])
if len(cs) != 1:
    errors.append("%d containers in the agent pod" % len(cs))
c = cs[0] if cs else {}
sc = c.get("securityContext", {})
for who, ctx in (("pod", pod.get("securityContext", {})), ("container", sc)):
    if ctx.get("privileged"):
        errors.append("%s securityContext is privileged" % who)
if sc.get("readOnlyRootFilesystem") is not True:
    errors.append("readOnlyRootFilesystem is not true")
caps = sc.get("capabilities", {})
if caps.get("drop") != ["ALL"]:
    errors.append("capabilities.drop is %r, expected [ALL]" % caps.get("drop"))
add = set(caps.get("add", []))
if add != NEEDED_CAPS:
    errors.append("capabilities.add %s, expected exactly %s (extra: %s, missing: %s)"
                  % (sorted(add), sorted(NEEDED_CAPS), sorted(add - NEEDED_CAPS),
                     sorted(NEEDED_CAPS - add)))
args = c.get("args", [])
if not args or args[0] != "agent":
    errors.append("container args %r do not start with the agent subcommand" % args)
listen = [a.split("=", 1)[1] for a in args if a.startswith("--listen=")]
lport = int(listen[0].rsplit(":", 1)[1]) if listen else None
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
if lport not in ports.values():
    errors.append("--listen port %s is not a containerPort %s" % (lport, ports))
def probe_port(p):
    port = p.get("httpGet", {}).get("port")
    return ports.get(port) if isinstance(port, str) else port
for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    p = c.get(kind, {})
    if p.get("httpGet", {}).get("path") != path:
        errors.append("%s is not an httpGet on %s: %r" % (kind, path, p))
    elif probe_port(p) != lport:
        errors.append("%s on port %s, the agent listens on %s" % (kind, probe_port(p), lport))
env = {e["name"]: e for e in c.get("env", [])}
if env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "spec.nodeName":
    errors.append("NODE_NAME is not from the downward API's spec.nodeName")
svc = one("Service", "otel-collector")
ns = svc.get("metadata", {}).get("namespace")
want = "http://otel-collector.%s.svc:4318" % ns
got = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", {}).get("value")
if got != want:
    errors.append("OTEL_EXPORTER_OTLP_ENDPOINT %r, expected the Collector Service %r" % (got, want))
if 4318 not in [p.get("port") for p in svc.get("spec", {}).get("ports", [])]:
    errors.append("the Collector Service does not expose 4318 (OTLP/HTTP)")
res = c.get("resources", {})
for part in ("requests", "limits"):
    if not {"cpu", "memory"} <= set(res.get(part, {})):
        errors.append("resources.%s lacks cpu or memory: %r" % (part, res))
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
cg = mounts.get("/sys/fs/cgroup")
if not cg or cg.get("readOnly") is not True or \
        vols.get(cg["name"], {}).get("hostPath", {}).get("path") != "/sys/fs/cgroup":
    errors.append("/sys/fs/cgroup is not the host's, mounted read-only")
for m, v in mounts.items():
    hp = vols.get(v["name"], {}).get("hostPath", {}).get("path", "")
    if hp.startswith("/sys/kernel/debug") or hp in ("/", "/proc") or \
            (hp and v.get("readOnly") is not True):
        errors.append("host path %s mounted at %s (not needed, or writable)" % (hp, m))
ann = tmeta.get("annotations", {})
if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/path") != "/metrics" \
        or ann.get("prometheus.io/port") != str(lport):
    errors.append("prometheus.io annotations %r do not match the endpoint" % ann)
pm = one("PodMonitor", "memtel-agent")
sel = pm.get("spec", {}).get("selector", {}).get("matchLabels", {})
labels = tmeta.get("labels", {})
if not sel or any(labels.get(k2) != v2 for k2, v2 in sel.items()):
    errors.append("PodMonitor selector %r does not select the agent pods %r" % (sel, labels))
for ep in pm.get("spec", {}).get("podMetricsEndpoints", []):
    if ep.get("port") not in ports or ep.get("path", "/metrics") != "/metrics":
        errors.append("PodMonitor endpoint %r is not the agent's /metrics" % ep)

# --- the Collector -------------------------------------------------------
with open(k + "/collector-config.yaml") as fh:
    col = yaml.safe_load(fh)
pipes = col.get("service", {}).get("pipelines", {})
for kind in ("receivers", "processors", "exporters"):
    for pname, p in pipes.items():
        if not p.get(kind) and kind != "processors":
            errors.append("pipeline %s has no %s" % (pname, kind))
        for comp in p.get(kind, []):
            if comp not in (col.get(kind) or {}):
                errors.append("pipeline %s uses undefined %s %s" % (pname, kind, comp))
for pname in ("metrics", "profiles"):
    if pname not in pipes:
        errors.append("no %s pipeline" % pname)
    elif "k8sattributes" not in pipes[pname].get("processors", []):
        errors.append("pipeline %s lacks k8sattributes" % pname)
assoc = [s.get("name") for a in (col.get("processors", {}).get("k8sattributes") or {})
         .get("pod_association", []) for s in a.get("sources", [])
         if s.get("from") == "resource_attribute"]
for a in ("k8s.pod.uid", "container.id"):
    if a not in assoc:
        errors.append("k8sattributes does not associate pods by %s (%s)" % (a, assoc))
dep = one("Deployment", "otel-collector")
cargs = " ".join(" ".join(x.get("args", [])) for x in
                 dep.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []))
if "profiles" in pipes and not re.search(r"--feature-gates=\S*service\.profilesSupport", cargs):
    errors.append("a profiles pipeline without --feature-gates=service.profilesSupport")
cms = [v.get("configMap", {}).get("name") for v in
       dep.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", [])]
with open(k + "/kustomization.yaml") as fh:
    kz = yaml.safe_load(fh)
gen = [g.get("name") for g in kz.get("configMapGenerator", [])]
if not set(cms) & set(gen):
    errors.append("the Collector mounts ConfigMap %s, kustomization generates %s" % (cms, gen))
if sorted(kz.get("resources", [])) != sorted(["namespace.yaml", "agent.yaml",
                                             "agent-podmonitor.yaml", "collector.yaml"]):
    errors.append("kustomization resources %r" % kz.get("resources"))

# --- Dockerfile ------------------------------------------------------------
with open(d + "/Dockerfile") as fh:
    df = fh.read()
froms = re.findall(r"^FROM\s+(\S+)", df, re.M)
if len(froms) < 2 or any(not f.startswith("debian:bookworm") for f in froms):
    errors.append("Dockerfile stages %r: expected multi-stage debian:bookworm" % froms)
ep = re.findall(r"^ENTRYPOINT\s+(\[.*\])", df, re.M)
if not ep or yaml.safe_load(ep[-1])[-1] != "agent" or "memtel-bpf" not in ep[-1]:
    errors.append("Dockerfile ENTRYPOINT %r is not memtel-bpf agent" % ep)
last = df.split("\nFROM ")[-1]
runtime_pkgs = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(
    re.findall(r"install[^\n]*?--no-install-recommends(.*?)&&", last, re.S))))
if any(p.endswith("-dev") for p in runtime_pkgs) or "make" in runtime_pkgs:
    errors.append("runtime stage installs build packages: %s" % sorted(runtime_pkgs))
if len(sys.argv) > 2:
    with open(sys.argv[2]) as fh:
        need = {l.strip() for l in fh if l.strip()}
    for p in sorted(need - runtime_pkgs - {"libc6", "libgcc-s1"}):
        errors.append("runtime stage lacks %s (a library the binary links)" % p)
for e in errors:
    print("FAIL: " + e)
print("%d problems" % len(errors))
sys.exit(1 if errors else 0)
EOF

# the Debian packages of the shared libraries the built binary links
# directly (DT_NEEDED; theirs come with them as package dependencies).
# The normal build is what the image ships, also in the ASan pass.
BIN=$MEMTEL_ROOT/memtel-bpf
[ -x "$BIN" ] || fail "not built: $BIN (make)"
ldd "$BIN" >"$W/ldd.txt" || fail "ldd $BIN"
readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r so; do
	lib=$(awk -v so="$so" '$1 == so && $2 == "=>" {print $3}' "$W/ldd.txt")
	[ -n "$lib" ] || continue
	dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null
done | cut -d: -f1 | sort -u >"$W/runtime-pkgs.txt"
[ -s "$W/runtime-pkgs.txt" ] || fail "no packages found for $(cat "$W/ldd.txt")"
log "runtime packages: $(tr '\n' ' ' <"$W/runtime-pkgs.txt")"
python3 "$W/rules.py" "$D" "$W/runtime-pkgs.txt" >"$W/rules.txt" 2>&1 ||
	fail "deploy rules: $(grep -m5 FAIL "$W/rules.txt" | tr '\n' ' ' || tail -n 3 "$W/rules.txt")"
sed 's/^/# /' "$W/rules.txt"

# ... and each rule family must be able to say no: a broken copy
cp -r "$D" "$W/bad"
python3 - "$W/bad" <<'EOF'
import sys
d = sys.argv[1]
def sub(f, a, b):
    p = d + "/" + f
    s = open(p).read()
    assert a in s, (f, a)
    open(p, "w").write(s.replace(a, b, 1))
sub("kubernetes/agent.yaml", "privileged: false", "privileged: true")
sub("kubernetes/agent.yaml", "- DAC_READ_SEARCH", "- SYS_ADMIN")
sub("kubernetes/agent.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false")
sub("kubernetes/agent.yaml", "path: /readyz", "path: /healthz")
sub("kubernetes/agent.yaml", "fieldPath: spec.nodeName", "fieldPath: metadata.name")
sub("kubernetes/collector-config.yaml",
    "processors: [memory_limiter, k8sattributes, batch]\n      exporters: [otlp/profiles",
    "processors: [memory_limiter, batch]\n      exporters: [otlp/nowhere")
sub("Dockerfile", "libmicrohttpd12 ", "")
EOF
python3 "$W/rules.py" "$W/bad" "$W/runtime-pkgs.txt" >"$W/rules-bad.txt" 2>&1 &&
	fail "deploy rules accepted a broken copy"
for want in "privileged" "capabilities.add" "readOnlyRootFilesystem" "readinessProbe" \
	"NODE_NAME" "pipeline profiles lacks k8sattributes" "undefined exporters otlp/nowhere" \
	"lacks libmicrohttpd12"; do
	grep -q "FAIL: .*$want" "$W/rules-bad.txt" ||
		fail "deploy rules missed a broken $want: $(cat "$W/rules-bad.txt")"
done
log "deploy/kubernetes and deploy/Dockerfile consistent"
