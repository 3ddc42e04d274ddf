#!/usr/bin/env python3
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""oci.py - the agent image and its runc bundle, from deploy/'s own files.

build-image.sh and tests/integration/agent_container.sh use it so that
nothing is written down twice:

  packages DOCKERFILE         the runtime stage's apt packages, one a line
  image-config DOCKERFILE     umoci config flags for the runtime stage's
                              ENTRYPOINT, CMD, USER, EXPOSE (one a line)
  install-path DOCKERFILE     where the runtime stage puts memtel-bpf
  image-tag MANIFEST          the tag of the DaemonSet's image (0.1.0)
  probe MANIFEST KIND         "PATH PORT" of livenessProbe/readinessProbe
  grace MANIFEST              terminationGracePeriodSeconds
  bundle-config BUNDLE LAYOUT TAG MANIFEST [options]
                              rewrite BUNDLE/config.json (from `umoci
                              unpack`) to run the container as the
                              DaemonSet's pod spec says: see bundle_config

The DaemonSet is read the way the kubelet and a CRI runtime (containerd)
read it: command replaces the image's ENTRYPOINT, args its CMD; hostPID
drops the pid namespace; securityContext gives the user, the capability
sets, no_new_privs, the read-only root and seccomp; volumeMounts become
bind mounts; resources.limits the cgroup limits. Anything in the pod spec
this does not know how to reproduce is an error, not silently ignored.
"""
import argparse
import json
import os
import re
import sys

import yaml


def die(msg):
    print("oci.py: %s" % msg, file=sys.stderr)
    sys.exit(1)


# --- Dockerfile -----------------------------------------------------------

def runtime_stage(path):
    """The instructions of the Dockerfile's last stage, continuation lines
    joined, comments dropped: [(INSTRUCTION, rest)]."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"^\s*#.*\n", "", text, flags=re.M)
    text = re.sub(r"\\\n", " ", text)
    stages = re.split(r"^FROM\s", text, flags=re.M)
    if len(stages) < 2:
        die("%s: no FROM" % path)
    out = []
    for line in stages[-1].splitlines()[1:]:
        m = re.match(r"\s*([A-Z]+)\s+(.*)", line)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def runtime_packages(path):
    pkgs = []
    for ins, rest in runtime_stage(path):
        if ins != "RUN":
            continue
        for cmd in re.split(r"&&|;", rest):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                after = words[words.index("install") + 1:]
                pkgs += [w for w in after if not w.startswith("-")]
    if not pkgs:
        die("%s: the runtime stage installs no packages" % path)
    for p in pkgs:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", p):
            die("%s: %r is not a package name" % (path, p))
    return pkgs


def exec_form(rest, what):
    try:
        v = json.loads(rest)
    except ValueError:
        die("%s %s: only the exec (JSON) form is supported" % (what, rest))
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        die("%s %s: not a list of strings" % (what, rest))
    return v


def image_config(path):
    """{entrypoint, cmd, user, ports, copy: {source basename: dest}}"""
    cfg = {"entrypoint": [], "cmd": [], "user": "", "ports": [], "env": [], "copy": {}}
    for ins, rest in runtime_stage(path):
        if ins == "ENTRYPOINT":
            cfg["entrypoint"] = exec_form(rest, ins)
        elif ins == "CMD":
            cfg["cmd"] = exec_form(rest, ins)
        elif ins == "USER":
            cfg["user"] = rest
        elif ins == "EXPOSE":
            cfg["ports"] += [p if "/" in p else p + "/tcp" for p in rest.split()]
        elif ins == "ENV":
            m = re.fullmatch(r"(\w+)[= ](.*)", rest)
            cfg["env"].append("%s=%s" % (m.group(1), m.group(2).strip('"')))
        elif ins == "COPY":
            words = [w for w in rest.split() if not w.startswith("--")]
            if len(words) == 2:
                cfg["copy"][os.path.basename(words[0])] = words[1]
    if not cfg["entrypoint"]:
        die("%s: the runtime stage has no ENTRYPOINT" % path)
    return cfg


# --- the DaemonSet -------------------------------------------------------

def daemonset(path):
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    ds = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(ds) != 1:
        die("%s: %d DaemonSets, expected one" % (path, len(ds)))
    pod = ds[0]["spec"]["template"]["spec"]
    if len(pod.get("containers", [])) != 1 or pod.get("initContainers"):
        die("%s: expected exactly one container" % path)
    return pod, pod["containers"][0]


def probe(path, kind):
    _, c = daemonset(path)
    g = c.get(kind, {}).get("httpGet")
    if not g:
        die("%s: no %s.httpGet" % (path, kind))
    port = g["port"]
    if isinstance(port, str):
        named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if port not in named:
            die("%s: %s port %r is not a named port" % (path, kind, port))
        port = named[port]
    return g.get("path", "/"), port


def expand(value, env):
    """Kubernetes' $(VAR) expansion (earlier variables only; $$ escapes)."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, value)


def cpu_quota(v):
    s = str(v)
    milli = int(s[:-1]) if s.endswith("m") else int(float(s) * 1000)
    return milli * 100  # per 100 ms period


def mem_bytes(v):
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 1000, "M": 10**6, "G": 10**9}
    m = re.fullmatch(r"(\d+)([KMG]i?)?", str(v))
    if not m:
        die("memory quantity %r not understood" % v)
    return int(m.group(1)) * units.get(m.group(2) or "", 1)


def layout_image_config(layout, tag):
    """The OCI image config of LAYOUT:TAG (entrypoint, cmd, env, user)."""
    def blob(digest):
        algo, h = digest.split(":", 1)
        with open(os.path.join(layout, "blobs", algo, h)) as f:
            return json.load(f)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for m in index.get("manifests", []):
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return blob(blob(m["digest"])["config"]["digest"]).get("config", {})
    die("%s: no tag %s" % (layout, tag))


def bundle_config(a):
    pod, c = daemonset(a.manifest)
    img = layout_image_config(a.layout, a.tag)
    cpath = os.path.join(a.bundle, "config.json")
    with open(cpath) as f:
        cfg = json.load(f)
    known_pod = {"serviceAccountName", "automountServiceAccountToken", "hostPID",
                 "hostNetwork", "hostIPC",
                 "priorityClassName", "tolerations", "terminationGracePeriodSeconds",
                 "containers", "volumes", "securityContext", "nodeSelector", "affinity"}
    for k in set(pod) - known_pod:
        die("pod spec field %s: not reproduced by this script" % k)
    known_c = {"name", "image", "imagePullPolicy", "command", "args", "env", "ports",
               "livenessProbe", "readinessProbe", "resources", "securityContext",
               "volumeMounts"}
    for k in set(c) - known_c:
        die("container field %s: not reproduced by this script" % k)
    known_sc = {"runAsUser", "runAsGroup", "runAsNonRoot", "privileged",
                "allowPrivilegeEscalation", "readOnlyRootFilesystem", "seccompProfile",
                "capabilities"}
    for where, ctx in (("pod", pod.get("securityContext", {})),
                       ("container", c.get("securityContext", {}))):
        for k in set(ctx) - known_sc:
            die("%s securityContext.%s: not reproduced by this script" % (where, k))
    proc = cfg["process"]

    # command and args as the kubelet composes them with the image's
    args = (c.get("command") or img.get("Entrypoint") or []) + \
        (c.get("args") if "args" in c or "command" in c else img.get("Cmd") or [])
    env_list = list(img.get("Env") or [])
    env = dict(e.split("=", 1) for e in env_list)
    for e in c.get("env", []):
        if "value" in e:
            v = expand(str(e["value"]), env)
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            v = a.node_name
        else:
            die("env %s: only value and fieldRef spec.nodeName are reproduced" % e["name"])
        env[e["name"]] = v
    for k in a.unset_env:
        env.pop(k, None)
    for kv in a.env:
        k, v = kv.split("=", 1)
        env[k] = v
    proc["args"] = [expand(x, env) for x in args] + a.extra_arg
    proc["env"] = ["%s=%s" % kv for kv in env.items()]
    proc["terminal"] = False

    sc = c.get("securityContext", {})
    psc = pod.get("securityContext", {})
    uid = sc.get("runAsUser", psc.get("runAsUser"))
    if uid is None:
        die("no runAsUser: the image's USER would apply; say it in the manifest")
    if int(uid) == 0 and sc.get("runAsNonRoot", psc.get("runAsNonRoot")):
        die("runAsNonRoot with runAsUser 0: the kubelet refuses to start it")
    gid = sc.get("runAsGroup", psc.get("runAsGroup", 0))
    proc["user"] = {"uid": int(uid), "gid": int(gid)}
    if sc.get("privileged"):
        die("privileged: not reproduced by this script")
    caps = sc.get("capabilities", {})
    if caps.get("drop") != ["ALL"]:
        die("capabilities.drop %r: only [ALL] is reproduced" % caps.get("drop"))
    add = ["CAP_" + x for x in caps.get("add", [])]
    # containerd for a root process: bounding, effective and permitted;
    # nothing inheritable or ambient
    proc["capabilities"] = {"bounding": add, "effective": add, "permitted": add,
                            "inheritable": [], "ambient": []}
    proc["noNewPrivileges"] = sc.get("allowPrivilegeEscalation", True) is False
    # containerd's spec sets no rlimits: the container inherits the
    # runtime's (LimitNOFILE in containerd.service); umoci's is 1024
    proc.pop("rlimits", None)
    cfg["root"]["readonly"] = sc.get("readOnlyRootFilesystem") is True
    sp = sc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
    if sp != "Unconfined":
        die("seccompProfile %r: only Unconfined is reproduced" % sp)
    cfg["linux"].pop("seccomp", None)
    cfg["hostname"] = a.hostname

    # host namespaces: none of their own. With hostPID the /proc runc
    # mounts is the host's, as with containerd's hostPID.
    shared = {t for f, t in (("hostPID", "pid"), ("hostNetwork", "network"),
                             ("hostIPC", "ipc")) if pod.get(f)}
    ns = cfg["linux"]["namespaces"]
    ns[:] = [n for n in ns if n["type"] not in shared]

    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = [m for m in cfg["mounts"]]
    for vm in c.get("volumeMounts", []):
        v = vols.get(vm["name"])
        if v is None:
            die("volumeMount %s: no such volume" % vm["name"])
        dest = vm["mountPath"]
        ro = vm.get("readOnly") is True
        if "hostPath" in v:
            src = v["hostPath"]["path"]
            t = v["hostPath"].get("type", "")
            if t == "Directory" and not os.path.isdir(src):
                die("hostPath %s is not a directory on this host" % src)
        elif "emptyDir" in v:
            if not a.scratch:
                die("emptyDir %s: give a host directory with --scratch" % vm["name"])
            src = a.scratch
        else:
            die("volume %s: only hostPath and emptyDir are reproduced" % vm["name"])
        # a mount of the runtime's at the same place gives way
        mounts = [m for m in mounts if m["destination"] != dest]
        opts = ["rbind", "nosuid", "nodev"] + (["rro"] if ro else ["rw"])
        mounts.append({"destination": dest, "type": "bind", "source": src, "options": opts})
    cfg["mounts"] = mounts

    res = cfg["linux"].setdefault("resources", {})
    lim = c.get("resources", {}).get("limits", {})
    if "cpu" in lim:
        res["cpu"] = {"quota": cpu_quota(lim["cpu"]), "period": 100000}
    if "memory" in lim:
        res["memory"] = {"limit": mem_bytes(lim["memory"])}
    # one level below the root: runc removes the container's directory,
    # not the parents it created
    cfg["linux"]["cgroupsPath"] = a.cgroups_path or "/" + a.hostname
    with open(cpath + ".tmp", "w") as f:
        json.dump(cfg, f, indent=1)
    os.replace(cpath + ".tmp", cpath)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("packages", "image-config", "install-path"):
        sub.add_parser(name).add_argument("dockerfile")
    sub.add_parser("image-tag").add_argument("manifest")
    sub.add_parser("grace").add_argument("manifest")
    s = sub.add_parser("probe")
    s.add_argument("manifest")
    s.add_argument("kind", choices=["livenessProbe", "readinessProbe"])
    s = sub.add_parser("bundle-config")
    s.add_argument("bundle")
    s.add_argument("layout")
    s.add_argument("tag")
    s.add_argument("manifest")
    s.add_argument("--node-name", default=os.uname().nodename,
                   help="what the downward API's spec.nodeName gives")
    s.add_argument("--hostname", default="memtel-agent",
                   help="the container's hostname (a pod's is its name)")
    s.add_argument("--scratch", help="host directory standing in for emptyDir volumes")
    s.add_argument("--cgroups-path", help="linux.cgroupsPath (default /HOSTNAME)")
    s.add_argument("--env", action="append", default=[], metavar="K=V",
                   help="set (or override) a variable after the manifest's")
    s.add_argument("--unset-env", action="append", default=[], metavar="K",
                   help="drop a variable the manifest sets")
    s.add_argument("--extra-arg", action="append", default=[], metavar="ARG",
                   help="append ARG to the container's command line")
    a = ap.parse_args()
    if a.cmd == "packages":
        print("\n".join(runtime_packages(a.dockerfile)))
    elif a.cmd == "image-config":
        cfg = image_config(a.dockerfile)
        out = ["--clear=config.entrypoint", "--clear=config.cmd"]
        out += ["--config.entrypoint=" + x for x in cfg["entrypoint"]]
        out += ["--config.cmd=" + x for x in cfg["cmd"]]
        if cfg["user"]:
            out.append("--config.user=" + cfg["user"])
        out += ["--config.exposedports=" + p for p in cfg["ports"]]
        out += ["--config.env=" + e for e in cfg["env"]]
        print("\n".join(out))
    elif a.cmd == "install-path":
        dest = image_config(a.dockerfile)["copy"].get("memtel-bpf")
        if not dest:
            die("%s: no COPY of memtel-bpf in the runtime stage" % a.dockerfile)
        print(dest)
    elif a.cmd == "image-tag":
        _, c = daemonset(a.manifest)
        print(c["image"].rsplit(":", 1)[1] if ":" in c["image"].split("/")[-1] else "latest")
    elif a.cmd == "grace":
        pod, _ = daemonset(a.manifest)
        print(pod.get("terminationGracePeriodSeconds", 30))
    elif a.cmd == "probe":
        print("%s %s" % probe(a.manifest, a.kind))
    elif a.cmd == "bundle-config":
        bundle_config(a)


if __name__ == "__main__":
    main()
