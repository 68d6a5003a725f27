"""The manifests of deploy/k8s/ without a cluster: each parses and passes the
structural schema (k8s.py), the objects refer to each other correctly, the
ConfigMap is a fresh rendering of its sources, its nginx config passes
`nginx -t`, and the API pod keeps the promises of DESIGN.md 10 and issue 6.
"""
import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import urllib.parse

import k8s
import pod

SELECTOR_KINDS = ("Deployment", "Job")


def _workloads():
    return [o for _, o in k8s.objects() if o["kind"] in SELECTOR_KINDS]


def test_every_manifest_parses_and_passes_the_schema():
    files = k8s.manifest_files()
    assert len(files) >= 8, files
    bad = []
    for name, o in k8s.objects():
        for e in k8s.schema_errors(o):
            bad.append(f"{name} {o.get('kind')} {o.get('metadata', {}).get('name')}: {e}")
    assert not bad, "\n".join(bad)
    kinds = {o["kind"] for _, o in k8s.objects()}
    for kind in ("Namespace", "ConfigMap", "Deployment", "Service", "Ingress", "Job",
                 "PodDisruptionBudget"):
        assert kind in kinds, f"no {kind} in deploy/k8s/"


def test_the_schema_refuses_a_misspelt_field():
    # The check can fail: a typo in a probe's name and a port out of range.
    d = k8s.find("Deployment", "honeydue-api")
    c = d["spec"]["template"]["spec"]["containers"][0]
    c["livenesProbe"] = c.pop("livenessProbe")
    c["ports"][0]["containerPort"] = 70000
    errors = k8s.schema_errors(d)
    assert any("livenesProbe" in e for e in errors), errors
    assert any("70000" in e for e in errors), errors


def test_objects_live_in_the_namespace_and_names_are_unique():
    seen = set()
    for name, o in k8s.objects():
        key = (o["kind"], o["metadata"]["name"])
        assert key not in seen, f"{key} twice"
        seen.add(key)
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == k8s.NAMESPACE, f"{name}: {key}"
    # The Namespace comes first when a directory is applied in name order.
    assert k8s.manifest_files()[0].endswith("00-namespace.yaml")


def test_references_between_objects_resolve():
    objs = [o for _, o in k8s.objects()]
    by = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    for name, secret in k8s.secret_templates().items():
        by[("Secret", name)] = secret
    for w in _workloads():
        wname = f"{w['kind']} {w['metadata']['name']}"
        tmpl = w["spec"]["template"]
        spec = tmpl["spec"]
        if w["kind"] == "Deployment":
            sel = w["spec"]["selector"]["matchLabels"]
            assert sel.items() <= tmpl["metadata"]["labels"].items(), wname
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        used = set()
        ports = {}
        for c in k8s.all_containers(w):
            for p in c.get("ports", []):
                ports[p.get("name")] = p["containerPort"]
                ports[p["containerPort"]] = p["containerPort"]
        for c in k8s.all_containers(w):
            for m in c.get("volumeMounts", []):
                assert m["name"] in volumes, f"{wname}/{c['name']}: no volume {m['name']}"
                used.add(m["name"])
            for e in c.get("envFrom", []):
                for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if key in e:
                        assert (kind, e[key]["name"]) in by, f"{wname}: no {kind} {e[key]['name']}"
            for e in c.get("env", []):
                for kind, key, field in (("Secret", "secretKeyRef", "stringData"),
                                         ("ConfigMap", "configMapKeyRef", "data")):
                    r = e.get("valueFrom", {}).get(key)
                    if r:
                        src = by.get((kind, r["name"]))
                        assert src and r["key"] in src.get(field, {}), f"{wname}: {kind} {r}"
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                port = c.get(probe, {}).get("httpGet", {}).get("port")
                if port is not None:
                    assert port in ports, f"{wname}/{c['name']} {probe}: no port {port} in the pod"
        assert used == set(volumes), f"{wname}: volumes never mounted: {set(volumes) - used}"
        for v in volumes.values():
            if "configMap" in v:
                cm = by.get(("ConfigMap", v["configMap"]["name"]))
                assert cm, f"{wname}: no ConfigMap {v['configMap']['name']}"
                for item in v["configMap"].get("items", []):
                    assert item["key"] in cm["data"], f"{wname}: no key {item['key']}"
            if "secret" in v:
                sec = by.get(("Secret", v["secret"]["secretName"]))
                assert sec, f"{wname}: no Secret {v['secret']['secretName']} (nor its example)"
                for item in v["secret"].get("items", []):
                    assert item["key"] in sec["stringData"], f"{wname}: no key {item['key']}"
            if "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in by, f"{wname}: no PVC {claim}"
    # Services select a Deployment's pods and name its ports; the Ingress and
    # the budgets point at what exists.
    deployments = [o for o in objs if o["kind"] == "Deployment"]

    def selected(selector):
        return [d for d in deployments
                if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]

    for o in objs:
        if o["kind"] == "Service":
            (d,) = selected(o["spec"]["selector"])
            names = {p.get("name") for c in pod_containers(d) for p in c.get("ports", [])}
            for p in o["spec"]["ports"]:
                assert p["targetPort"] in names, f"Service {o['metadata']['name']}: {p}"
        if o["kind"] == "PodDisruptionBudget":
            assert len(selected(o["spec"]["selector"]["matchLabels"])) == 1, o["metadata"]["name"]
        if o["kind"] == "Ingress":
            for rule in o["spec"]["rules"]:
                for p in rule["http"]["paths"]:
                    svc = by[("Service", p["backend"]["service"]["name"])]
                    pname = p["backend"]["service"]["port"].get("name")
                    assert pname in {sp.get("name") for sp in svc["spec"]["ports"]}, pname


def pod_containers(d):
    return d["spec"]["template"]["spec"]["containers"]


def test_configmap_is_a_fresh_rendering_of_its_sources():
    r = subprocess.run(["/usr/bin/python3", os.path.join(k8s.REPO, "deploy", "render_configmap.py"),
                        "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # And the check can fail: in a copy of its sources where the template
    # changed and the ConfigMap did not, --check finds it stale.
    with tempfile.TemporaryDirectory(prefix="hd-render.") as tree:
        for d in ("deploy", "deploy/k8s", "nginx"):
            os.makedirs(os.path.join(tree, d))
        for f in ("deploy/render_configmap.py", "deploy/honeydue.conf", "deploy/k8s/10-configmap.yaml",
                  "deploy/ingress-cidrs.txt", "deploy/cloudflare-ips.txt",
                  "nginx/honeydue.conf.in", "nginx/fastcgi_params", "nginx/security_headers.conf"):
            shutil.copy(os.path.join(k8s.REPO, f), os.path.join(tree, f))
        tpl = os.path.join(tree, "nginx", "honeydue.conf.in")
        with open(tpl, encoding="utf-8") as f:
            text = f.read()
        with open(tpl, "w", encoding="utf-8") as f:
            f.write(text.replace("worker_connections 1024;", "worker_connections 512;"))
        r = subprocess.run(["/usr/bin/python3", os.path.join(tree, "deploy", "render_configmap.py"),
                            "--check"], capture_output=True, text=True)
        assert r.returncode == 1 and "worker_connections 512;" in r.stdout, r.stdout + r.stderr
    cm = k8s.find("ConfigMap", "honeydue-nginx")
    with open(os.path.join(k8s.REPO, "nginx", "fastcgi_params"), encoding="utf-8") as f:
        assert cm["data"]["fastcgi_params"] == f.read()
    with open(os.path.join(k8s.REPO, "nginx", "security_headers.conf"), encoding="utf-8") as f:
        assert cm["data"]["security_headers.conf"] == f.read()
    with open(os.path.join(k8s.REPO, "deploy", "honeydue.conf"), encoding="utf-8") as f:
        assert k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"] == f.read()
    conf = cm["data"]["nginx.conf"]
    assert not re.search(r"@[A-Z_]+@", conf), "a placeholder left in the pod's nginx.conf"


def _geo(conf, head):
    """The entries of the geo block that starts with HEAD, as {network: value}."""
    body = conf.split(head + " {", 1)[1].split("}", 1)[0]
    out = {}
    for line in body.splitlines():
        line = line.split("#", 1)[0].strip().rstrip(";")
        if line and not line.startswith("default "):
            net, value = line.split()
            out[net] = value
    return out


def test_pod_nginx_config_believes_each_header_only_from_its_sender():
    """nginx/honeydue.conf.in, "The client address": CF-Connecting-IP only
    from Cloudflare's ranges (deploy/cloudflare-ips.txt), X-Forwarded-For
    only from the ingress (deploy/ingress-cidrs.txt), and no realip module,
    whose rewritten $remote_addr is what allow/deny would check (a forged
    header could open /metrics). The pod tests prove the behaviour."""
    rc = k8s.render_configmap()
    conf = k8s.find("ConfigMap", "honeydue-nginx")["data"]["nginx.conf"]
    params = k8s.find("ConfigMap", "honeydue-nginx")["data"]["fastcgi_params"]
    assert "set_real_ip_from" not in conf and "real_ip_header" not in conf
    assert re.search(r"^fastcgi_param\s+REMOTE_ADDR\s+\$hd_client_addr;$", params, re.M), params
    peers = _geo(conf, "geo $realip_remote_addr $hd_peer")
    cloudflare = rc.read_cidrs(rc.CLOUDFLARE_FILE)
    ingress = rc.read_cidrs(rc.INGRESS_FILE)
    assert ingress and cloudflare
    assert {n: v for n, v in peers.items() if v == "internal"} == \
        {"127.0.0.1/32": "internal", "10.0.0.0/8": "internal"}, peers
    assert {n for n, v in peers.items() if v == "ingress"} == set(ingress), peers
    assert {n for n, v in peers.items() if v == "cloudflare"} == set(cloudflare), peers
    assert set(_geo(conf, "geo $hd_hop $hd_hop_cloudflare")) == set(cloudflare)
    # Cloudflare's list is public, v4 and v6, and trusts nothing local.
    nets = [ipaddress.ip_network(c) for c in cloudflare]
    assert {n.version for n in nets} == {4, 6}
    assert all(n.is_global for n in nets), [str(n) for n in nets if not n.is_global]
    assert "listen 8080 default_server;" in conf
    assert "error_log stderr" in conf
    assert "/bench/" not in conf and "bare.sock" not in conf  # the bench's responder stays local
    # /metrics and /api/internal/ check $hd_internal (the real peer, asking
    # directly), not allow lists that see a rewritten address.
    for loc in ("location ^~ /api/internal/ {", "location = /metrics {"):
        body = conf.split(loc, 1)[1].split("fastcgi_pass", 1)[0]
        assert re.search(r"if \(\$hd_internal = 0\) \{\s*return 403;", body), (loc, body)
        assert "allow " not in body, (loc, body)


def test_a_wrong_cidr_file_stops_the_rendering():
    with tempfile.TemporaryDirectory(prefix="hd-cidrs.") as tmp:
        tree = os.path.join(tmp, "deploy")
        os.makedirs(os.path.join(tree, "k8s"))
        os.makedirs(os.path.join(tmp, "nginx"))
        for f in ("deploy/render_configmap.py", "deploy/honeydue.conf", "deploy/cloudflare-ips.txt",
                  "nginx/honeydue.conf.in", "nginx/fastcgi_params", "nginx/security_headers.conf"):
            shutil.copy(os.path.join(k8s.REPO, f), os.path.join(tmp, f))
        for bad, why in (("10.42.0.0/31\n<html>\n", "not a CIDR"), ("0.0.0.0/0\n", "too wide")):
            with open(os.path.join(tree, "ingress-cidrs.txt"), "w", encoding="utf-8") as f:
                f.write(bad)
            r = subprocess.run(["/usr/bin/python3", os.path.join(tree, "render_configmap.py"), "--stdout"],
                               capture_output=True, text=True)
            assert r.returncode != 0 and why in r.stderr and "ingress-cidrs.txt" in r.stderr, r.stderr


def test_nginx_accepts_the_pod_config():
    d = k8s.find("Deployment", "honeydue-api")
    with tempfile.TemporaryDirectory(prefix="hd-nginx-t.") as root:
        p = pod.Pod(d, root, bin_dir=os.environ.get("DEPLOY_BIN", "build/asan"))
        p.prepare()
        conf = p.host_path("nginx", "/etc/nginx/honeydue/nginx.conf")
        r = subprocess.run(["nginx", "-t", "-q", "-e", "stderr", "-c", conf],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        # The same check refuses a broken config.
        with open(conf, "a", encoding="utf-8") as f:
            f.write("http { bogus_directive on; }\n")
        r = subprocess.run(["nginx", "-t", "-q", "-e", "stderr", "-c", conf],
                           capture_output=True, text=True)
        assert r.returncode != 0


def _sleep_seconds(cmd):
    m = re.search(r"\bsleep (\d+)", " ".join(cmd))
    return int(m.group(1)) if m else 0


def test_api_pod_keeps_the_design():
    d = k8s.find("Deployment", "honeydue-api")
    spec = d["spec"]["template"]["spec"]
    cs = {c["name"]: c for c in spec["containers"]}
    assert set(cs) == {"nginx", "fcgi"}
    fcgi, nginx = cs["fcgi"], cs["nginx"]
    argv = fcgi["command"] + fcgi.get("args", [])
    assert argv[0] == "spawn-fcgi" and "-n" in argv and argv[-1] == "/usr/local/bin/honeydue-fcgi"
    sock = argv[argv.index("-s") + 1]
    assert argv[argv.index("-M") + 1] == "0660"
    # The socket's directory is one emptyDir both containers mount, and it is
    # where the pod's nginx.conf passes requests.
    sockdir = os.path.dirname(sock)
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = [{m["mountPath"]: m["name"] for m in c["volumeMounts"]} for c in (fcgi, nginx)]
    assert mounts[0].get(sockdir) and mounts[0].get(sockdir) == mounts[1].get(sockdir)
    assert "emptyDir" in vols[mounts[0][sockdir]]
    conf = k8s.find("ConfigMap", "honeydue-nginx")["data"]["nginx.conf"]
    assert f"fastcgi_pass unix:{sock};" in conf
    # Probes: liveness /api/health/, readiness /api/ready/, a startup probe.
    assert fcgi["livenessProbe"]["httpGet"]["path"] == "/api/health/"
    assert fcgi["readinessProbe"]["httpGet"]["path"] == "/api/ready/"
    assert nginx["readinessProbe"]["httpGet"]["path"] == "/api/ready/"
    assert fcgi["startupProbe"]["httpGet"]["path"] == "/api/health/"
    # Every container has requests and limits and runs as non-root.
    for c in k8s.all_containers(d):
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]), c["name"]
        assert {"cpu", "memory"} <= set(c["resources"]["limits"]), c["name"]
        uid = c.get("securityContext", {}).get("runAsUser", spec["securityContext"].get("runAsUser"))
        assert uid and uid != 0, c["name"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    # nginx's uid may use the socket through the pod's fsGroup (the socket's group).
    assert spec["securityContext"]["fsGroup"] == fcgi["securityContext"]["runAsGroup"]
    # Draining: nginx stops taking requests before the pool does, and the
    # grace period covers the pool's preStop plus its shutdown bound.
    nginx_wait = _sleep_seconds(nginx["lifecycle"]["preStop"]["exec"]["command"])
    pool_wait = _sleep_seconds(fcgi["lifecycle"]["preStop"]["exec"]["command"])
    assert 0 < nginx_wait < pool_wait
    assert "-s quit" in " ".join(nginx["lifecycle"]["preStop"]["exec"]["command"])
    cfg = pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
    bound = int(cfg.get("HONEYDUE_SHUTDOWN_TIMEOUT", "20"))
    assert spec["terminationGracePeriodSeconds"] > pool_wait + bound
    # Rolled, not half-updated, when the config changes (deploy.sh fills it in).
    for name in ("honeydue-api", "honeydue-worker"):
        ann = k8s.find("Deployment", name)["spec"]["template"]["metadata"]["annotations"]
        assert ann["honeydue.dev/config-hash"] == "CONFIG_HASH"


def test_app_images_are_the_placeholder_and_the_config_file_is_mounted():
    for w in _workloads():
        spec = k8s.pod_spec(w)
        for c in k8s.all_containers(w):
            if "honeydue" not in c["image"]:
                continue
            assert c["image"] == k8s.IMAGE_PLACEHOLDER, (w["metadata"]["name"], c["image"])
            if c["name"] == "assets":
                continue
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            assert env.get("HONEYDUE_CONFIG") == "/etc/honeydue/honeydue.conf", c["name"]
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            vol = {v["name"]: v for v in spec["volumes"]}[mounts["/etc/honeydue"]]
            assert vol["configMap"]["name"] == "honeydue-config"
            assert {"secretRef": {"name": "honeydue-secrets"}} in c.get("envFrom", [])
    job = k8s.find("Job", "honeydue-migrate")
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"][0] == "/usr/local/bin/honeydue-migrate" and c["command"][-1] == "up"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    worker = k8s.find("Deployment", "honeydue-worker")
    assert pod_containers(worker)[0]["command"] == ["/usr/local/bin/honeydue-worker"]


def test_secret_template_holds_no_secret():
    s = k8s.secret_template()
    assert s["kind"] == "Secret" and s["metadata"]["name"] == "honeydue-secrets"
    assert "data" not in s, "base64 data in the template: values belong in the cluster only"
    for key, value in s["stringData"].items():
        assert "CHANGE_ME" in value, key
    assert {"SECRET_KEY", "DB_PASSWORD", "REDIS_URL", "SMTP_URL", "S3_ACCESS_KEY_ID",
            "S3_SECRET_ACCESS_KEY"} <= set(s["stringData"])
    # Not picked up by `kubectl apply -f deploy/k8s/`.
    assert not any("secret" in os.path.basename(f) for f in k8s.manifest_files())
    # No secret in the config file either (it overrides the environment).
    cfg = pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
    assert not set(cfg) & set(s["stringData"]), set(cfg) & set(s["stringData"])


def test_ingress_serves_plain_http_from_cloudflare_through_traefik():
    """DESIGN.md 10: k3s's bundled Traefik, behind Cloudflare's Flexible SSL
    (plain HTTP to the origin). Class traefik by default; Traefik's plain
    entry point; no tls section (Traefik would then match TLS only, and
    Cloudflare's HTTP would get 404) and no redirect to https (it would loop:
    Cloudflare fetches the https URL over HTTP again)."""
    ing = k8s.find("Ingress", "honeydue")
    assert ing["spec"]["ingressClassName"] == "traefik"
    ann = ing["metadata"].get("annotations", {})
    assert ann.get("traefik.ingress.kubernetes.io/router.entrypoints") == "web", ann
    assert "tls" not in ing["spec"], ing["spec"].get("tls")
    for k, v in ann.items():
        assert "ssl-redirect" not in k and "redirect" not in v.lower(), (k, v)
        assert not k.endswith("router.tls") and not k.endswith("router.middlewares"), (k, v)
    # Under INGRESS_CLASS=nginx, ingress-nginx's default 1m body limit must
    # not refuse a document's file before the pod's nginx sees it (11m).
    size = ann.get("nginx.ingress.kubernetes.io/proxy-body-size", "")
    assert re.fullmatch(r"\d+m", size) and int(size[:-1]) >= 11, size


def redis_server_argv():
    """The Redis container's redis-server command line: the `exec
    redis-server` line of its start script (continuations joined), split as
    sh splits it; and the container."""
    (c,) = pod_containers(k8s.find("Deployment", "redis"))
    assert c["command"] == ["sh", "-c"], c["command"]
    script = c["args"][0].replace("\\\n", " ")
    (line,) = [ln for ln in script.splitlines() if ln.strip().startswith("exec redis-server")]
    return shlex.split(line)[2:], c


def test_redis_has_a_memory_cap_that_never_evicts_jobs():
    argv, c = redis_server_argv()
    assert "--maxmemory" in argv
    assert argv[argv.index("--maxmemory") + 1].endswith("mb")
    # volatile-lru: only keys with a TTL (the cache) are evicted; queue keys
    # have none (docs/operations.md, Configuration). allkeys-lru could drop queued jobs.
    assert argv[argv.index("--maxmemory-policy") + 1] == "volatile-lru"
    limit = c["resources"]["limits"]["memory"]
    assert int(argv[argv.index("--maxmemory") + 1][:-2]) < int(limit.rstrip("Mi"))


def test_redis_url_with_its_password_is_in_the_secret_not_the_configmap():
    """REDIS_URL (which holds Redis's password) comes from the Secret, which
    every app pod reads (envFrom), and never from the config file, which
    would override it."""
    url = urllib.parse.urlsplit(k8s.secret_template()["stringData"]["REDIS_URL"])
    assert url.scheme == "redis" and url.hostname == "redis" and url.port == 6379
    assert url.password and "CHANGE_ME" in url.password and not url.username
    cfg = pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])
    assert "REDIS_URL" not in cfg
    with open(os.path.join(k8s.REPO, "deploy", "honeydue.conf"), encoding="utf-8") as f:
        assert "REDIS_URL" not in pod.parse_config(f.read())
    for kind, name in (("Deployment", "honeydue-api"), ("Deployment", "honeydue-worker"),
                       ("Job", "honeydue-migrate")):
        for c in k8s.all_containers(k8s.find(kind, name)):
            if c["image"] == k8s.IMAGE_PLACEHOLDER and c.get("command", [""])[0].startswith("/usr/local/bin/"):
                assert {"secretRef": {"name": "honeydue-secrets"}} in c.get("envFrom", []), (name, c["name"])


def test_redis_requires_the_password_from_the_secret():
    """The Redis pod takes its password from the Secret's REDIS_URL, hands it
    to redis-server in a file on a memory-backed emptyDir (never on a command
    line), has no protected-mode off, and its probe authenticates."""
    argv, c = redis_server_argv()
    (env,) = [e for e in c["env"] if e["name"] == "REDIS_URL"]
    assert env["valueFrom"]["secretKeyRef"] == {"name": "honeydue-secrets", "key": "REDIS_URL"}
    script = c["args"][0]
    assert "requirepass" in script and "protected-mode" not in script
    conf = argv[0]
    assert conf.startswith("/") and not conf.startswith("-"), argv
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in k8s.pod_spec(k8s.find("Deployment", "redis"))["volumes"]}
    (mount,) = [m for m in mounts if conf.startswith(m + "/")]
    assert vols[mounts[mount]]["emptyDir"].get("medium") == "Memory"
    assert "umask 077" in script
    probe = " ".join(c["readinessProbe"]["exec"]["command"])
    assert "REDISCLI_AUTH" in probe and conf in probe


def _selects(selector, labels):
    """Whether a labelSelector (matchLabels and matchExpressions) selects LABELS."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for e in selector.get("matchExpressions", []):
        v = labels.get(e["key"])
        ok = {"In": v in e.get("values", []), "NotIn": v not in e.get("values", []),
              "Exists": e["key"] in labels, "DoesNotExist": e["key"] not in labels}[e["operator"]]
        if not ok:
            return False
    return True


def _pod_labels():
    return {o["metadata"]["name"]: o["spec"]["template"]["metadata"]["labels"]
            for _, o in k8s.objects() if o["kind"] in SELECTOR_KINDS}


def test_api_pods_accept_only_traefik_and_prometheus_on_their_http_port():
    pol = k8s.find("NetworkPolicy", "honeydue-api")
    labels = _pod_labels()
    chosen = {n for n, lab in labels.items() if _selects(pol["spec"]["podSelector"], lab)}
    assert chosen == {"honeydue-api"}, chosen
    assert pol["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = pol["spec"]["ingress"]
    # Each peer is a pod selector AND a namespace selector in one entry (two
    # entries would let in the whole namespace, or that label anywhere).
    peers = {(p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
              p["podSelector"]["matchLabels"]["app.kubernetes.io/name"]) for p in rule["from"]}
    assert all(set(p) == {"namespaceSelector", "podSelector"} for p in rule["from"])
    assert ("kube-system", "traefik") in peers
    assert peers <= {("kube-system", "traefik"), ("monitoring", "prometheus")}, peers
    http = [p["containerPort"] for c in pod_containers(k8s.find("Deployment", "honeydue-api"))
            for p in c.get("ports", []) if p.get("name") == "http"]
    assert [(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]] == [("TCP", http[0])]
    # The Service and the Ingress reach the pods on that same port.
    svc = k8s.find("Service", "honeydue-api")
    assert all(pt["targetPort"] in ("http", http[0]) for pt in svc["spec"]["ports"])


def test_worker_and_migrate_pods_accept_no_connection():
    pol = k8s.find("NetworkPolicy", "honeydue-no-ingress")
    labels = _pod_labels()
    chosen = {n for n, lab in labels.items() if _selects(pol["spec"]["podSelector"], lab)}
    assert chosen == {"honeydue-worker", "honeydue-migrate"}, chosen
    assert pol["spec"]["policyTypes"] == ["Ingress"] and pol["spec"]["ingress"] == []


def test_every_pod_is_under_an_ingress_policy():
    """No workload of the namespace is left open to any pod of the cluster."""
    pols = [o for _, o in k8s.objects() if o["kind"] == "NetworkPolicy"]
    for name, lab in _pod_labels().items():
        assert any(_selects(p["spec"]["podSelector"], lab) and "Ingress" in p["spec"]["policyTypes"]
                   for p in pols), f"{name}: no NetworkPolicy selects its pods"


def test_redis_answers_only_the_api_and_worker_pods():
    """The NetworkPolicy selects exactly the Redis pods and lets in only the
    API and worker pods, on Redis's port: its selectors match the
    Deployments' pod labels, so a relabelled Deployment fails here."""
    pol = k8s.find("NetworkPolicy", "redis")
    labels = {name: k8s.find("Deployment", name)["spec"]["template"]["metadata"]["labels"]
              for name in ("redis", "honeydue-api", "honeydue-worker")}
    sel = pol["spec"]["podSelector"]["matchLabels"]
    assert sel.items() <= labels["redis"].items()
    assert not sel.items() <= labels["honeydue-api"].items()
    assert pol["spec"]["policyTypes"] == ["Ingress"] and len(pol["spec"]["ingress"]) == 1
    rule = pol["spec"]["ingress"][0]
    peers = [p["podSelector"]["matchLabels"] for p in rule["from"]]
    assert all(set(p) == {"podSelector"} for p in rule["from"])  # this namespace only
    allowed = {name for name, lab in labels.items() if any(p.items() <= lab.items() for p in peers)}
    assert allowed == {"honeydue-api", "honeydue-worker"}, allowed
    redis_ports = [p["containerPort"] for c in k8s.pod_spec(k8s.find("Deployment", "redis"))["containers"]
                   for p in c.get("ports", [])]
    assert [p["port"] for p in rule["ports"]] == redis_ports == [6379]


# ---- documents: the bucket (DESIGN.md 10 and 12) ------------------------------
# The settings of the s3 backend the cluster's config file must give
# (fcgi-app/s3.h); the key pair comes from the Secret.
S3_SETTINGS = ("S3_ENDPOINT", "S3_REGION", "S3_BUCKET", "S3_FORCE_PATH_STYLE", "S3_TIMEOUT_SECONDS")


def _cluster_config():
    return pod.parse_config(k8s.find("ConfigMap", "honeydue-config")["data"]["honeydue.conf"])


def test_documents_live_in_the_bucket_not_on_a_volume():
    """DESIGN.md 10: nothing may need a volume that follows a pod across
    nodes. The documents' files are in the bucket (STORAGE_BACKEND=s3), so no
    ReadWriteMany claim anywhere, no claim and no mount of the storage
    directory in the API's or the worker's pods, nothing that ties them to a
    node, and no STORAGE_DIR in the cluster's config."""
    rwx = [o["metadata"]["name"] for _, o in k8s.objects()
           if o["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in o["spec"]["accessModes"]]
    assert not rwx, f"ReadWriteMany claims: {rwx}"
    cfg = _cluster_config()
    assert cfg.get("STORAGE_BACKEND") == "s3", cfg.get("STORAGE_BACKEND")
    assert "STORAGE_DIR" not in cfg, cfg["STORAGE_DIR"]
    storage = k8s.render_configmap().POD["@STORAGE@"]  # where a local backend's files would be
    for name in ("honeydue-api", "honeydue-worker"):
        d = k8s.find("Deployment", name)
        spec = k8s.pod_spec(d)
        for v in spec.get("volumes", []):
            # Only what lives and dies with the pod, on whatever node it runs.
            kinds = set(v) - {"name"}
            assert kinds <= {"emptyDir", "configMap", "secret"}, f"{name}: volume {v}"
        for c in k8s.all_containers(d):
            for m in c.get("volumeMounts", []):
                path = m["mountPath"].rstrip("/")
                assert not (storage + "/").startswith(path + "/") and not path.startswith(storage + "/"), \
                    f"{name}/{c['name']} mounts {m['name']} at {path}, over the storage directory {storage}"
        assert "nodeSelector" not in spec and "nodeName" not in spec, (name, spec.get("nodeSelector"))
        assert "nodeAffinity" not in spec.get("affinity", {}), (name, spec["affinity"])


def test_the_bucket_settings_are_in_the_config_file():
    cfg = _cluster_config()
    missing = [k for k in S3_SETTINGS if not cfg.get(k)]
    assert not missing, f"not in deploy/honeydue.conf: {missing}"
    # scheme://host[:port], no path (s3.h); TLS to a bucket on the internet.
    m = re.fullmatch(r"https://([a-z0-9.-]+)(?::\d+)?", cfg["S3_ENDPOINT"])
    assert m, cfg["S3_ENDPOINT"]
    b2 = re.fullmatch(r"s3\.([a-z0-9-]+)\.backblazeb2\.com", m.group(1))
    if b2:  # B2 signs with the region its endpoint names
        assert cfg["S3_REGION"] == b2.group(1), (cfg["S3_REGION"], cfg["S3_ENDPOINT"])
    assert cfg["S3_FORCE_PATH_STYLE"] in ("true", "false"), cfg["S3_FORCE_PATH_STYLE"]
    if cfg["S3_FORCE_PATH_STYLE"] == "false":  # the bucket is a label of the host name
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", cfg["S3_BUCKET"]), cfg["S3_BUCKET"]
    assert cfg["S3_TIMEOUT_SECONDS"].isdigit() and int(cfg["S3_TIMEOUT_SECONDS"]) > 0
    # A job's S3 request ends within the worker's grace period.
    worker = k8s.pod_spec(k8s.find("Deployment", "honeydue-worker"))
    assert worker["terminationGracePeriodSeconds"] > int(cfg["S3_TIMEOUT_SECONDS"])


S3_KEYS = ("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY")


def _from_secret(c, secret_name):
    """The keys of Secret SECRET_NAME container C sees as environment
    variables of the same name (envFrom without a prefix, or env entries
    with a secretKeyRef), minus those an env entry sets otherwise."""
    keys = set()
    template = k8s.secret_template()
    for e in c.get("envFrom", []):
        ref = e.get("secretRef", {})
        if ref.get("name") == secret_name and not e.get("prefix"):
            keys |= set(template["stringData"])
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref.get("name") == secret_name and ref["key"] == e["name"]:
            keys.add(e["name"])
        else:
            keys.discard(e["name"])  # env wins over envFrom
    return keys


def _config_file_of(w, c):
    """The settings of the config file container C of workload W reads
    (HONEYDUE_CONFIG, through the ConfigMap mounted at its directory)."""
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    path = env["HONEYDUE_CONFIG"]
    mounts = {m["mountPath"].rstrip("/"): m["name"] for m in c.get("volumeMounts", [])}
    vol = {v["name"]: v for v in k8s.pod_spec(w)["volumes"]}[mounts[os.path.dirname(path)]]
    items = {i["path"]: i["key"] for i in vol["configMap"].get("items", [])}
    key = items.get(os.path.basename(path), os.path.basename(path))
    return pod.parse_config(k8s.find("ConfigMap", vol["configMap"]["name"])["data"][key])


def test_the_api_pool_and_the_worker_get_the_bucket_settings_and_keys():
    """Both touch the bucket: the pool stores and presigns, the worker's
    documents.sweep deletes objects. Each reads the S3_* settings from the
    config file and the key pair from the Secret; the keys never come from
    the config file (it overrides the environment)."""
    for name, cname in (("honeydue-api", "fcgi"), ("honeydue-worker", "worker")):
        w = k8s.find("Deployment", name)
        c = {c["name"]: c for c in k8s.pod_spec(w)["containers"]}[cname]
        got = _from_secret(c, "honeydue-secrets")
        assert set(S3_KEYS) <= got, f"{name}/{cname} gets {sorted(got)} from the Secret"
        cfg = _config_file_of(w, c)
        assert cfg.get("STORAGE_BACKEND") == "s3", (name, cfg.get("STORAGE_BACKEND"))
        assert all(cfg.get(k) for k in S3_SETTINGS), (name, {k: cfg.get(k) for k in S3_SETTINGS})
        assert not set(S3_KEYS) & set(cfg), (name, set(S3_KEYS) & set(cfg))


def _s3_location(conf):
    """The body of the pod's nginx.conf's internal /_s3/ location."""
    head = re.search(r"^\s*location ~ \^/_s3/.*\{$", conf, re.M)
    assert head, "no /_s3/ location in the pod's nginx.conf"
    return conf[head.end():].split("}", 1)[0]


def test_pod_nginx_resolves_the_bucket_through_the_cluster_dns():
    """The /_s3/ location fetches a presigned URL whose host is a name (B2's
    endpoint, with the bucket in front in virtual-host style): nginx
    resolves it itself, with the resolver render_configmap.py writes from
    CLUSTER_DNS (k3s's kube-dns by default), and checks the bucket's
    certificate against the CA bundle of the stock image."""
    rc = k8s.render_configmap()
    conf = k8s.find("ConfigMap", "honeydue-nginx")["data"]["nginx.conf"]
    body = _s3_location(conf)
    lines = [x.strip() for x in body.splitlines() if x.strip().startswith("resolver ")]
    assert len(lines) == 1, f"resolver lines in the /_s3/ location: {lines}"
    line = lines[0]
    m = re.fullmatch(r"resolver ((?:\S+ )+)valid=(\d+)s ipv6=off;", line)
    assert m, line
    assert m.group(1).split() == rc.CLUSTER_DNS, (line, rc.CLUSTER_DNS)
    assert 0 < int(m.group(2)) <= 300, line
    assert "proxy_ssl_verify on;" in body
    assert "proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;" in body
    # The stock nginx image, not one of ours: its Debian base's ca-certificates.
    d = k8s.find("Deployment", "honeydue-api")
    (nginx,) = [c for c in k8s.pod_spec(d)["containers"] if c["name"] == "nginx"]
    assert re.fullmatch(r"nginx:1\.\d+-bookworm", nginx["image"]), nginx["image"]
    # Another cluster's DNS renders into the same place; a name or nothing refuses.
    other = _s3_location(rc.render_nginx(cluster_dns=["10.96.0.10", "fd00::a"]))
    assert "resolver 10.96.0.10 [fd00::a] valid=" in other, other
    for bad in (["kube-dns.kube-system"], []):
        try:
            rc.render_nginx(cluster_dns=bad)
        except SystemExit as e:
            assert "CLUSTER_DNS" in str(e), e
        else:
            raise AssertionError(f"rendered with CLUSTER_DNS={bad}")


def test_pod_nginx_waits_on_the_bucket_as_long_as_the_app():
    """nginx's /_s3/ timeouts are the config file's S3_TIMEOUT_SECONDS, one
    setting for both (render_configmap.py reads deploy/honeydue.conf)."""
    timeout = _cluster_config()["S3_TIMEOUT_SECONDS"]
    body = _s3_location(k8s.find("ConfigMap", "honeydue-nginx")["data"]["nginx.conf"])
    for d in ("proxy_send_timeout", "proxy_read_timeout"):
        assert re.search(r"^\s*%s %ss;$" % (d, timeout), body, re.M), (d, timeout, body)
    with tempfile.TemporaryDirectory(prefix="hd-s3-timeout.") as tree:
        os.makedirs(os.path.join(tree, "deploy", "k8s"))
        os.makedirs(os.path.join(tree, "nginx"))
        for f in ("deploy/render_configmap.py", "deploy/honeydue.conf", "deploy/ingress-cidrs.txt",
                  "deploy/cloudflare-ips.txt", "nginx/honeydue.conf.in", "nginx/fastcgi_params",
                  "nginx/security_headers.conf"):
            shutil.copy(os.path.join(k8s.REPO, f), os.path.join(tree, f))
        conf = os.path.join(tree, "deploy", "honeydue.conf")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        for value, ok in (("45", True), ("", False), ("30s", False)):
            with open(conf, "w", encoding="utf-8") as f:
                f.write(pod.override_config(text, {"S3_TIMEOUT_SECONDS": value}))
            r = subprocess.run(["/usr/bin/python3", os.path.join(tree, "deploy", "render_configmap.py"),
                                "--stdout"], capture_output=True, text=True)
            if ok:
                assert r.returncode == 0 and "proxy_read_timeout 45s;" in r.stdout, r.stderr
            else:
                assert r.returncode != 0 and "S3_TIMEOUT_SECONDS" in r.stderr, (value, r.stderr)


# ---- push: the Secret honeydue-push (DESIGN.md 13; docs/deploying.md, Push) ----
# honeydue-worker alone sends push notifications. Its two key files come
# from the Secret honeydue-push, mounted read-only and optional into the
# worker's pod only, where the config file's APNS_KEY_FILE and
# FCM_CREDENTIALS_FILE point; the non-secret settings are in the config file.
PUSH_SECRET = "honeydue-push"
PUSH_FILE_SETTINGS = ("APNS_KEY_FILE", "FCM_CREDENTIALS_FILE")
PUSH_SETTINGS = PUSH_FILE_SETTINGS + ("APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC", "APNS_ENV")
PUSH_TEST_ONLY = ("APNS_URL", "FCM_URL", "PUSH_CA_FILE")  # the tests' stand-in's


def _push_volumes(w):
    return [v for v in k8s.pod_spec(w).get("volumes", [])
            if v.get("secret", {}).get("secretName") == PUSH_SECRET]


def test_worker_mounts_the_push_secret_read_only_and_optional():
    w = k8s.find("Deployment", "honeydue-worker")
    spec = k8s.pod_spec(w)
    (v,) = _push_volumes(w)
    sv = v["secret"]
    # optional: a cluster without the Secret (or one of its keys) still starts the worker.
    assert sv.get("optional") is True, sv
    # Exactly the keys of the example, each to a file of its own name.
    keys = set(k8s.push_secret_template()["stringData"])
    assert {i["key"] for i in sv["items"]} == keys, sv["items"]
    assert all(i["path"] == i["key"] for i in sv["items"]), sv["items"]
    # Root's files, readable by the worker's uid only through the pod's
    # fsGroup: the kubelet gives them that group and group read (0440); no
    # write bit, nothing for others.
    fs_group = spec["securityContext"].get("fsGroup")
    (c,) = spec["containers"]
    uid = c.get("securityContext", {}).get("runAsUser", spec["securityContext"].get("runAsUser"))
    assert uid not in (None, 0) and fs_group is not None, (uid, fs_group)
    for mode in [sv.get("defaultMode", 0o644)] + [i["mode"] for i in sv["items"] if "mode" in i]:
        assert mode & 0o337 == 0 and mode & 0o400, oct(mode)
    # Mounted read-only into the worker's one container.
    (m,) = [m for m in c["volumeMounts"] if m["name"] == v["name"]]
    assert m.get("readOnly") is True and "subPath" not in m, m  # subPath would never see a new key
    # ... where the config file says the files are.
    cfg = _config_file_of(w, c)
    for setting in PUSH_FILE_SETTINGS:
        path = cfg.get(setting, "")
        assert os.path.dirname(path) == m["mountPath"].rstrip("/"), (setting, path, m["mountPath"])
        assert os.path.basename(path) in {i["path"] for i in sv["items"]}, (setting, path)
    # Files, not the environment: nothing of the push Secret as variables.
    for e in c.get("envFrom", []):
        assert e.get("secretRef", {}).get("name") != PUSH_SECRET, e
    for e in c.get("env", []):
        assert e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") != PUSH_SECRET, e


def test_only_the_worker_gets_the_push_keys():
    """The API never pushes, and the migrate Job neither: neither mounts
    the push Secret, nor anything at the worker's mount path."""
    w = k8s.find("Deployment", "honeydue-worker")
    (c,) = k8s.pod_spec(w)["containers"]
    (v,) = _push_volumes(w)
    (path,) = [m["mountPath"] for m in c["volumeMounts"] if m["name"] == v["name"]]
    for o in _workloads():
        name = o["metadata"]["name"]
        if name == "honeydue-worker":
            continue
        assert not _push_volumes(o), f"{name} has the push Secret as a volume"
        for ct in k8s.all_containers(o):
            for m in ct.get("volumeMounts", []):
                assert m["mountPath"].rstrip("/") != path.rstrip("/"), (name, ct["name"], m)
            for e in ct.get("envFrom", []):
                assert e.get("secretRef", {}).get("name") != PUSH_SECRET, (name, ct["name"], e)
            for e in ct.get("env", []):
                assert e.get("valueFrom", {}).get("secretKeyRef", {}).get("name") != PUSH_SECRET, \
                    (name, ct["name"], e)


def test_the_push_settings_are_in_the_config_file():
    cfg = _cluster_config()
    missing = [k for k in PUSH_SETTINGS if k not in cfg]
    assert not missing, f"not in deploy/honeydue.conf: {missing}"
    assert cfg["APNS_ENV"] == "production", cfg["APNS_ENV"]  # App Store and TestFlight builds
    # Set when the account's values are known: then in their shapes.
    if cfg["APNS_KEY_ID"]:
        assert re.fullmatch(r"[A-Z0-9]{10}", cfg["APNS_KEY_ID"]), cfg["APNS_KEY_ID"]
    if cfg["APNS_TEAM_ID"]:
        assert re.fullmatch(r"[A-Z0-9]{10}", cfg["APNS_TEAM_ID"]), cfg["APNS_TEAM_ID"]
    if cfg["APNS_TOPIC"]:
        assert re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", cfg["APNS_TOPIC"]), cfg["APNS_TOPIC"]
    # The stand-in's settings never reach the cluster: neither the config
    # file nor any container's environment has them.
    assert not set(PUSH_TEST_ONLY) & set(cfg), set(PUSH_TEST_ONLY) & set(cfg)
    for o in _workloads():
        for c in k8s.all_containers(o):
            names = {e["name"] for e in c.get("env", [])}
            assert not set(PUSH_TEST_ONLY) & names, (o["metadata"]["name"], c["name"])
    # The key files are the Secret's, never settings' values of the Secret's own.
    assert not set(PUSH_SETTINGS) & set(k8s.secret_template()["stringData"])


def test_push_secret_template_holds_no_key():
    s = k8s.push_secret_template()
    assert s["kind"] == "Secret" and s["metadata"]["name"] == PUSH_SECRET
    assert s["metadata"].get("namespace") == k8s.NAMESPACE
    assert k8s.schema_errors(s) == [], k8s.schema_errors(s)
    assert "data" not in s, "base64 data in the template: keys belong in the cluster only"
    assert set(s["stringData"]) == {"apns-key.p8", "fcm-service-account.json"}, s["stringData"]
    for key, value in s["stringData"].items():
        assert "CHANGE_ME" in value, key
        assert "PRIVATE KEY" not in value and "private_key" not in value, key
        assert not re.search(r"[A-Za-z0-9+/=]{40,}", value), key  # no key material
    # Not picked up by `kubectl apply -f deploy/k8s/`.
    assert os.path.exists(os.path.join(k8s.K8S, "push-secret.yaml.example"))
    assert not any("secret" in os.path.basename(f) for f in k8s.manifest_files())
