"""pod.py - a Deployment's or Job's pod, run on this host as the kubelet
would run it, with nothing but paths and ports rewritten.

Pod(workload, root, bin_dir, ...) reads the pod template and:
- builds the app image's files under ROOT/image from deploy/Dockerfile's
  runtime stage (each COPY, with `--from=build` build/rel/ binaries taken
  from BIN_DIR), and takes its ENV and WORKDIR;
- makes each volume a directory: emptyDir and persistentVolumeClaim under
  ROOT/vol/NAME (group fsGroup, setgid, as the kubelet leaves them), each
  configMap written from deploy/k8s/ per container under ROOT/cm/, each
  secret volume under ROOT/vol/NAME from the test's SECRET_FILES (a Secret
  the test does not give does not exist: an optional volume is then an
  empty directory, as the kubelet mounts it; a required one fails), its
  files root's with the volume's mode, and, under an fsGroup, that group
  and group read added (the kubelet's SetVolumeOwnership: kubernetes
  issue 57923);
- runs a container's command + args with its env (value, configMapKeyRef,
  secretKeyRef, envFrom; the Secret is the test's, built from the template),
  under its runAsUser/runAsGroup with fsGroup and supplementalGroups as
  supplementary groups (setpriv, when the tests run as root).
The only rewrites: an absolute path under a container's mount or the app
image's files becomes the host directory standing for it (in the command,
the env and the mounted ConfigMap files, as that container sees them); a
`listen PORT` in a ConfigMap file, and PORTS, become a host port (so does
a `--port PORT` in a command); and
CONFIG overrides keys of the app's config file (honeydue.conf) so that the
cluster's Postgres and Redis are the test stack's; CONFIGMAP_DATA, when a
test gives it, replaces a ConfigMap key's text (a rendering of its own).
"""
import os
import re
import shutil
import signal
import subprocess
import time

import k8s

APP_IMAGE = k8s.IMAGE_PLACEHOLDER
K8S_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IS_ROOT = os.geteuid() == 0


def parse_config(text):
    """KEY=value lines (HONEYDUE_CONFIG's format) as a dict."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def override_config(text, overrides):
    """TEXT with each KEY=... line of OVERRIDES replaced (missing keys appended)."""
    left = dict(overrides)
    lines = []
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in left:
            line = f"{key}={left.pop(key)}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in left.items()]
    return "\n".join(lines) + "\n"


class Pod:
    def __init__(self, workload, root, bin_dir, ports=None, config=None, secret=None, extra_env=None,
                 configmap_data=None, secret_files=None):
        self.w = workload
        self.spec = k8s.pod_spec(workload)
        self.root = os.path.abspath(root)
        self.bin = os.path.abspath(bin_dir)
        self.ports = ports or {}
        self.config = config or {}
        self.secret = secret or {}
        self.extra_env = extra_env or {}
        # {(ConfigMap name, key): text} standing in for the committed data
        # (a test's own rendering of nginx.conf).
        self.configmap_data = configmap_data or {}
        # {Secret name: {key: bytes}}: the Secrets that exist, for secret
        # volumes (SECRET is the environment's, envFrom/secretKeyRef).
        self.secret_files = secret_files or {}
        self.procs = {}
        self.image_env = {}
        self.image_workdir = "/"
        self.image_prefixes = []
        self.configmaps = {o["metadata"]["name"]: o for _, o in k8s.objects() if o["kind"] == "ConfigMap"}
        self.containers = {c["name"]: c for c in k8s.all_containers(workload)}

    # ---- files ------------------------------------------------------------

    def prepare(self):
        os.makedirs(self.root, exist_ok=True)
        os.chmod(self.root, 0o755)
        self.log_dir = os.path.join(self.root, "log")
        os.makedirs(self.log_dir, exist_ok=True)
        os.chmod(self.log_dir, 0o777)
        self._build_image()
        psc = self.spec.get("securityContext", {})
        fs_group = psc.get("fsGroup")
        for v in self.spec.get("volumes", []):
            if "secret" in v:
                self._write_secret(v, fs_group)
            if "emptyDir" in v or "persistentVolumeClaim" in v:
                d = os.path.join(self.root, "vol", v["name"])
                os.makedirs(d, exist_ok=True)
                if IS_ROOT and fs_group is not None:
                    os.chown(d, 0, fs_group)
                    os.chmod(d, 0o2777 if "emptyDir" in v else 0o2775)
                else:
                    os.chmod(d, 0o777)
        for c in self.containers.values():
            for m in c.get("volumeMounts", []):
                v = self._volume(m["name"])
                if "configMap" in v:
                    self._write_configmap(c, v)

    def _write_secret(self, v, fs_group):
        """A secret volume as the kubelet leaves it: ROOT/vol/NAME holding
        the Secret's keys (or the volume's items of them) as root's files of
        the volume's mode, with the pod's fsGroup and group read under one;
        empty when the Secret is absent and the volume optional."""
        sv = v["secret"]
        d = os.path.join(self.root, "vol", v["name"])
        os.makedirs(d, exist_ok=True)
        data = self.secret_files.get(sv["secretName"])
        optional = sv.get("optional", False)
        assert data is not None or optional, \
            f"the kubelet would not start this pod: no Secret {sv['secretName']} (volume {v['name']})"
        items = sv.get("items") or [{"key": k, "path": k} for k in (data or {})]
        for item in items if data is not None else []:
            if item["key"] not in data:
                assert optional, f"the kubelet would not start this pod: Secret {sv['secretName']} " \
                                 f"has no key {item['key']} (volume {v['name']})"
                continue
            self.put_secret_file(v["name"], item["path"], data[item["key"]], item.get("mode"))
        self._own_volume(d, fs_group, 0o755)  # not writable: the mount is read-only

    def put_secret_file(self, vname, path, content, mode=None):
        """Write PATH of secret volume VNAME as the kubelet does when the
        Secret appears or changes (it updates a mounted Secret in place)."""
        sv = self._volume(vname)["secret"]
        fs_group = self.spec.get("securityContext", {}).get("fsGroup")
        mode = mode if mode is not None else sv.get("defaultMode", 0o644)
        out = os.path.join(self.root, "vol", vname, path)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = out + ".tmp"
        with open(tmp, "wb") as f:
            f.write(content)
        if IS_ROOT:
            os.chown(tmp, 0, fs_group if fs_group is not None else 0)
        os.chmod(tmp, mode | (0o440 if fs_group is not None else 0))
        os.replace(tmp, out)

    def _own_volume(self, d, fs_group, mode):
        if IS_ROOT:
            os.chown(d, 0, fs_group if fs_group is not None else 0)
        os.chmod(d, mode | (0o2000 if fs_group is not None else 0))

    def refresh_configmaps(self):
        """Rewrite every mounted ConfigMap's files, as the kubelet does when
        a ConfigMap changes (after a test changes CONFIG or CONFIGMAP_DATA)."""
        for c in self.containers.values():
            for m in c.get("volumeMounts", []):
                v = self._volume(m["name"])
                if "configMap" in v:
                    self._write_configmap(c, v)

    def _build_image(self):
        """ROOT/image: the runtime stage's COPYs; its ENV and WORKDIR."""
        img = os.path.join(self.root, "image")
        stage = k8s.dockerfile_stages()[-1]
        for ins, rest in stage["instructions"]:
            if ins == "COPY":
                frm, sources, dest = k8s.copy_args(rest)
                for src in sources:
                    host = self._build_source(frm, src)
                    target = dest + os.path.basename(src) if dest.endswith("/") else dest
                    out = img + target
                    os.makedirs(os.path.dirname(out), exist_ok=True)
                    if os.path.isdir(host):
                        shutil.copytree(host, out, dirs_exist_ok=True)
                    elif frm:
                        if not os.path.lexists(out):
                            os.symlink(host, out)
                    else:
                        shutil.copyfile(host, out)
                    self.image_prefixes.append(target.rstrip("/"))
            elif ins == "ENV":
                for kv in re.findall(r"(\w+)=(\S+)", rest):
                    self.image_env[kv[0]] = kv[1]
            elif ins == "WORKDIR":
                self.image_workdir = rest
        for dirpath, dirs, files in os.walk(img):
            os.chmod(dirpath, 0o755)
            for f in files:
                p = os.path.join(dirpath, f)
                if not os.path.islink(p):
                    os.chmod(p, 0o644)

    def _build_source(self, frm, src):
        """The host file for a COPY source: the repository's, or for the
        build stage (WORKDIR /src, the repository) its build/rel/ in BIN_DIR."""
        if frm is None:
            return os.path.join(k8s.REPO, src)
        rel = os.path.relpath(src, "/src")
        if rel.startswith("build/rel/"):
            return os.path.join(self.bin, rel[len("build/rel/"):])
        return os.path.join(k8s.REPO, rel)

    def _volume(self, name):
        return {v["name"]: v for v in self.spec["volumes"]}[name]

    def _volume_dir(self, cname, vname):
        v = self._volume(vname)
        if "configMap" in v:
            return os.path.join(self.root, "cm", cname, vname)
        return os.path.join(self.root, "vol", vname)

    def _write_configmap(self, c, v):
        cm = self.configmaps[v["configMap"]["name"]]
        items = v["configMap"].get("items") or [{"key": k, "path": k} for k in cm["data"]]
        d = self._volume_dir(c["name"], v["name"])
        for item in items:
            text = self.configmap_data.get((cm["metadata"]["name"], item["key"]), cm["data"][item["key"]])
            if item["key"] == "honeydue.conf":
                text = override_config(text, self.config)
            text = self.rewrite(c["name"], text)
            text = re.sub(r"(\blisten\s+)(\d+)\b",
                          lambda m: m.group(1) + "127.0.0.1:%d" % self.ports.get(int(m.group(2)),
                                                                                 int(m.group(2))),
                          text)
            out = os.path.join(d, item["path"])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            os.chmod(os.path.dirname(out), 0o755)
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
            os.chmod(out, 0o644)

    # ---- path rewriting -----------------------------------------------------

    def mapping(self, cname):
        """(container path, host path) pairs for container CNAME."""
        c = self.containers[cname]
        pairs = [(m["mountPath"].rstrip("/"), self._volume_dir(cname, m["name"]))
                 for m in c.get("volumeMounts", [])]
        if c["image"] == APP_IMAGE:
            mounted = {p for p, _ in pairs}
            for p in self.image_prefixes + [self.image_workdir]:
                if p not in mounted:
                    pairs.append((p, os.path.join(self.root, "image") + p))
        return sorted(pairs, key=lambda p: -len(p[0]))

    def rewrite(self, cname, text):
        pairs = dict(self.mapping(cname))
        alts = "|".join(re.escape(p) for p in sorted(pairs, key=len, reverse=True))
        rx = re.compile(r"(?<![\w.\-/])(" + alts + r")(?=/|$|[\s;'\"\]:,)])", re.M)
        return rx.sub(lambda m: pairs[m.group(1)], text)

    def host_path(self, cname, path):
        return self.rewrite(cname, path)

    # ---- processes -------------------------------------------------------------

    def env(self, cname):
        c = self.containers[cname]
        env = {"PATH": K8S_PATH, "HOSTNAME": self.w["metadata"]["name"]}
        if c["image"] == APP_IMAGE:
            env.update(self.image_env)
        for ef in c.get("envFrom", []):
            if "secretRef" in ef:
                env.update(self.secret)
            if "configMapRef" in ef:
                env.update(self.configmaps[ef["configMapRef"]["name"]]["data"])
        for e in c.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            else:
                vf = e["valueFrom"]
                if "secretKeyRef" in vf:
                    env[e["name"]] = self.secret[vf["secretKeyRef"]["key"]]
                elif "configMapKeyRef" in vf:
                    r = vf["configMapKeyRef"]
                    env[e["name"]] = self.configmaps[r["name"]]["data"][r["key"]]
        env = {k: self.rewrite(cname, v) for k, v in env.items()}
        env.update(self.extra_env)
        return env

    def identity(self, cname):
        """(uid, gid, supplementary groups) the kubelet would give CNAME."""
        c = self.containers[cname]
        psc = self.spec.get("securityContext", {})
        csc = c.get("securityContext", {})
        uid = csc.get("runAsUser", psc.get("runAsUser"))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", uid))
        groups = ([psc["fsGroup"]] if "fsGroup" in psc else []) + psc.get("supplementalGroups", [])
        return uid, gid, groups

    def argv(self, cname, argv):
        """ARGV rewritten for CNAME, run as its user when we can switch; a
        `--port N` (Redis's) with N in PORTS becomes that host port."""
        argv = [self.rewrite(cname, a) for a in argv]
        argv = [re.sub(r"(--port\s+)(\d+)\b",
                       lambda m: m.group(1) + str(self.ports.get(int(m.group(2)), int(m.group(2)))), a)
                for a in argv]
        if "/" not in argv[0]:
            found = shutil.which(argv[0], path=K8S_PATH)
            assert found, f"{argv[0]} is not installed on this host"
            argv[0] = found
        if IS_ROOT:
            uid, gid, groups = self.identity(cname)
            assert uid is not None, f"{cname} has no runAsUser"
            who = ["setpriv", f"--reuid={uid}", f"--regid={gid}"]
            who += [f"--groups={','.join(str(g) for g in groups)}"] if groups else ["--clear-groups"]
            argv = who + ["--"] + argv
        return argv

    def cwd(self, cname):
        c = self.containers[cname]
        wd = c.get("workingDir") or (self.image_workdir if c["image"] == APP_IMAGE else "/")
        return self.rewrite(cname, wd)

    def start(self, cname):
        """Start CNAME's command + args; its output goes to ROOT/log/CNAME.log."""
        c = self.containers[cname]
        log = open(os.path.join(self.log_dir, f"{cname}.log"), "ab")
        p = subprocess.Popen(self.argv(cname, c.get("command", []) + c.get("args", [])),
                             env=self.env(cname), cwd=self.cwd(cname), stdin=subprocess.DEVNULL,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs[cname] = p
        return p

    def run_to_end(self, cname, timeout):
        p = self.start(cname)
        return p.wait(timeout=timeout)

    def exec(self, cname, command):
        """A hook or `kubectl exec` in CNAME: COMMAND, started (Popen)."""
        log = open(os.path.join(self.log_dir, f"{cname}.exec.log"), "ab")
        p = subprocess.Popen(self.argv(cname, command), env=self.env(cname), cwd=self.cwd(cname),
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        return p

    def log(self, cname):
        try:
            with open(os.path.join(self.log_dir, f"{cname}.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop_all(self):
        """What is still running, killed (a failed test's leftovers)."""
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=10)

    def wait_exit(self, cname, deadline):
        p = self.procs[cname]
        try:
            return p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None
