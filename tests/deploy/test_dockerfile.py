"""deploy/Dockerfile without a Docker engine: its stages, its user, that its
COPYs find their sources and that the build stage's files are enough for
its make command (make -n in a copy of exactly those files), and that the
runtime stage's apt packages cover every shared library the binaries load
(ldd, mapped to packages with dpkg -S, through the packages' dependencies
as apt would install them).
"""
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile

import k8s

BINARIES = ("honeydue-fcgi", "honeydue-worker", "honeydue-migrate")
# The sanitizer runtime of the test build (build/asan); the image is built
# with MODE=rel, which links neither.
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")


def _stages():
    stages = k8s.dockerfile_stages()
    assert len(stages) == 2, [s["from"] for s in stages]
    return stages


def _dockerignore():
    path = os.path.join(k8s.REPO, ".dockerignore")
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]


def test_stages_are_bookworm_slim_and_the_image_runs_as_non_root():
    build, runtime = _stages()
    assert build["from"] == "debian:bookworm-slim" and build["name"] == "build"
    assert runtime["from"] == "debian:bookworm-slim"
    users = [rest for ins, rest in runtime["instructions"] if ins == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The uid the manifests run the app's containers as.
    for name in ("honeydue-api", "honeydue-worker"):
        d = k8s.find("Deployment", name)
        for c in k8s.all_containers(d):
            if c["image"] == k8s.IMAGE_PLACEHOLDER:
                uid = c.get("securityContext", {}).get("runAsUser",
                                                      k8s.pod_spec(d)["securityContext"].get("runAsUser"))
                assert str(uid) == user, (name, c["name"], uid, user)


def test_every_copy_source_exists_and_is_not_ignored():
    build, runtime = _stages()
    ignored = _dockerignore()
    built = set()
    for ins, rest in build["instructions"]:
        if ins == "RUN" and re.search(r"\bmake\b", rest):
            built |= set(re.findall(r"build/rel/[\w.-]+", rest))
    for stage in (build, runtime):
        for ins, rest in stage["instructions"]:
            if ins != "COPY":
                continue
            frm, sources, dest = k8s.copy_args(rest)
            assert sources, rest
            if len(sources) > 1:
                assert dest.endswith("/"), f"several sources need a directory: {rest}"
            for src in sources:
                if frm == "build":
                    rel = os.path.relpath(src, "/src")
                    assert rel in built, f"{src} is not made by the build stage's make"
                    continue
                assert frm is None, f"COPY --from={frm}: unknown stage"
                assert os.path.exists(os.path.join(k8s.REPO, src)), f"COPY {src}: not in the repository"
                for pat in ignored:
                    assert not fnmatch.fnmatch(src, pat.lstrip("/")), f"{src} is in .dockerignore"


def test_build_stage_copies_everything_its_make_needs():
    build, _ = _stages()
    with tempfile.TemporaryDirectory(prefix="hd-docker-build.") as src:
        run = None
        for ins, rest in build["instructions"]:
            if ins == "COPY":
                _, sources, dest = k8s.copy_args(rest)
                for s in sources:
                    host = os.path.join(k8s.REPO, s)
                    out = os.path.normpath(os.path.join(src, dest, os.path.basename(s.rstrip("/")))
                                           if dest.endswith("/") or dest == "./" else os.path.join(src, dest))
                    if os.path.isdir(host):
                        shutil.copytree(host, out, dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("__pycache__"))
                    else:
                        os.makedirs(os.path.dirname(out), exist_ok=True)
                        shutil.copy(host, out)
            if ins == "RUN" and re.search(r"\bmake\b", rest):
                run = rest
        assert run, "no make in the build stage"
        words = shlex.split(run.split("&&")[0])
        targets = [w for w in words if w.startswith("build/") or w.startswith("MODE=")]
        assert "MODE=rel" in targets
        # make -n -B: every command of a build from scratch, printed, not run.
        # In the copy it must succeed and be the same as in the repository
        # (a directory left out changes a wildcard's list, not make's status).
        # Not the flags of a make that runs this suite (make test), which
        # would print each one's directory.
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        cmd = ["make", "--no-print-directory", "-n", "-B", *targets]
        r = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        full = subprocess.run(cmd, cwd=k8s.REPO, env=env, capture_output=True, text=True, check=True)
        assert r.stdout == full.stdout, "the build stage misses files its build uses"
        assert r.stdout.count(" -c ") > 20, r.stdout[:500]
        for b in BINARIES:
            assert f"build/rel/{b}" in targets, f"{b} is not built"


def _runtime_packages():
    _, runtime = _stages()
    pkgs = []
    for ins, rest in runtime["instructions"]:
        if ins == "RUN":
            pkgs += k8s.apt_packages(rest)
    return pkgs


def _installed_depends():
    """Package -> the packages it depends on (Depends, Pre-Depends), and
    virtual package -> its providers, from this host's dpkg database."""
    out = subprocess.run(["dpkg-query", "-W", "-f",
                          "${Package}\t${Status}\t${Depends}, ${Pre-Depends}\t${Provides}\n"],
                         capture_output=True, text=True, check=True).stdout
    deps, provides, installed = {}, {}, set()
    for line in out.splitlines():
        name, status, dep, prov = line.split("\t")
        if not status.endswith(" installed"):
            continue
        installed.add(name)
        alts = []
        for group in dep.split(","):
            names = [re.sub(r"[:\s(].*", "", a.strip()) for a in group.split("|")]
            names = [n for n in names if n]
            if names:
                alts.append(names)
        deps[name] = alts
        for p in prov.split(","):
            p = re.sub(r"[\s(].*", "", p.strip())
            if p:
                provides.setdefault(p, []).append(name)
    return deps, provides, installed


def _closure(pkgs):
    deps, provides, installed = _installed_depends()
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for alts in deps.get(p, []):
            cands = [a for a in alts if a in installed] + \
                    [q for a in alts for q in provides.get(a, []) if q in installed]
            todo.extend(cands[:1])
    return seen


_PACKAGE_OF = {}


def _candidates(path):
    """PATH as dpkg may have recorded it (usrmerge moved /lib under /usr)."""
    out = []
    for p in (path, os.path.realpath(path)):
        out += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    return out


def _packages_of(paths):
    """path -> package for every library path, with one dpkg -S (it reads
    its whole database per call)."""
    todo = sorted({c for p in paths if p not in _PACKAGE_OF for c in _candidates(p)})
    if todo:
        out = subprocess.run(["dpkg", "-S", *todo], capture_output=True, text=True).stdout
        found = {}
        for line in out.splitlines():
            m = re.match(r"^([^:\s,]+)(?::\S+)?: (/\S+)$", line)
            if m:
                found[m.group(2)] = m.group(1)
        for p in paths:
            for c in _candidates(p):
                if c in found:
                    _PACKAGE_OF[p] = found[c]
                    break
    for p in paths:
        assert p in _PACKAGE_OF, f"dpkg -S knows no package for {p}"
    return {p: _PACKAGE_OF[p] for p in paths}


def _libraries(binary):
    """(name, path) of every shared library ldd says BINARY loads."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (/\S+)", line)
        if m:
            libs.append((m.group(1), m.group(2)))
    return libs


def _needed(binary):
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def uncovered(listed, bin_dir):
    """Libraries of the binaries the package list LISTED would not install:
    every ldd library must come from LISTED or a dependency of it, and every
    library a binary links directly from a package LISTED names itself."""
    have = _closure(listed)
    missing = []
    for b in BINARIES:
        path = os.path.join(bin_dir, b)
        libs = dict(_libraries(path))
        pkg_of = _packages_of([lib for name, lib in libs.items() if not SANITIZER_LIBS.match(name)])
        for name, lib in libs.items():
            if SANITIZER_LIBS.match(name):
                continue
            pkg = pkg_of[lib]
            if pkg not in have:
                missing.append(f"{b}: {name} ({pkg}) is not installed by {listed}")
        for name in _needed(path):
            if SANITIZER_LIBS.match(name) or name.startswith(("libc.so", "libm.so")):
                continue
            pkg = pkg_of[libs[name]]
            if pkg not in listed:
                missing.append(f"{b}: links {name} directly: list {pkg} itself")
    return missing


def test_runtime_packages_cover_every_shared_library():
    bin_dir = os.environ.get("DEPLOY_BIN", os.path.join(k8s.REPO, "build", "asan"))
    listed = _runtime_packages()
    assert "spawn-fcgi" in listed
    assert uncovered(listed, bin_dir) == []
    # The check fails for a list that misses one library's package.
    for drop in ("libsodium23", "libcurl4"):
        short = [p for p in listed if p != drop]
        assert any(drop in m for m in uncovered(short, bin_dir)), drop


def test_image_default_command_is_the_api_sidecar():
    _, runtime = _stages()
    cmds = [rest for ins, rest in runtime["instructions"] if ins == "CMD"]
    cmd = json.loads(cmds[-1])
    fcgi = [c for c in k8s.find("Deployment", "honeydue-api")["spec"]["template"]["spec"]["containers"]
            if c["name"] == "fcgi"][0]
    assert cmd == fcgi["command"] + fcgi.get("args", [])
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(r for i, r in runtime["instructions"] if i == "ENV")))
    assert env["HONEYDUE_MIGRATIONS_DIR"] == "/usr/share/honeydue/migrations"
