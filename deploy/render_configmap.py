#!/usr/bin/python3
"""render_configmap.py - write deploy/k8s/10-configmap.yaml from its sources.

The pod's nginx config is nginx/honeydue.conf.in, the template the local
stacks render (tests/stack.sh), rendered here with the pod's values (POD
below); fastcgi_params and security_headers.conf are nginx/'s files as they
are; the app's config file is deploy/honeydue.conf, whose
S3_TIMEOUT_SECONDS is also nginx's timeout on the bucket (@S3_TIMEOUT@).
So there is one source for each, and tests/deploy/test_manifests.py fails
when the committed ConfigMap differs from a fresh rendering.

    deploy/render_configmap.py            rewrite deploy/k8s/10-configmap.yaml
    deploy/render_configmap.py --check    exit 1 (with a diff) when it is stale
    deploy/render_configmap.py --stdout   print the rendering

Who the pod's nginx believes about the client's address, and who may see
/metrics and /api/internal/ (nginx/honeydue.conf.in, "The client address"):
- POD_CIDRS (below): the pod network, whose direct requests the internal
  locations answer (Prometheus scrapes from there). 10.0.0.0/8 holds the
  default pod and service CIDRs of kubeadm/flannel (10.244.0.0/16), k3s
  (10.42.0.0/16, 10.43.0.0/16), GKE and most managed clusters; a cluster on
  other ranges edits the list and re-renders.
- deploy/ingress-cidrs.txt: the addresses the cluster's ingress connects
  from; only from them is X-Forwarded-For believed (its last entry).
- deploy/cloudflare-ips.txt: Cloudflare's published ranges; only from them
  (directly, or as the ingress's peer) is CF-Connecting-IP believed.
  `deploy/deploy.sh refresh-cloudflare-ips` rewrites it from Cloudflare's
  lists, through --set-cloudflare-ips:

    deploy/render_configmap.py --set-cloudflare-ips FILE...
        write deploy/cloudflare-ips.txt from FILEs (Cloudflare's ips-v4 and
        ips-v6 lists: one CIDR a line), refusing anything else, then
        rewrite deploy/k8s/10-configmap.yaml

Both files: one CIDR a line, `#` comments. An equal range in two lists
counts as the more suspicious kind (Cloudflare, then the ingress): never
internal.

CLUSTER_DNS (below): the cluster DNS service's address(es), nginx's
resolver in the /_s3/ location (@RESOLVER@). nginx resolves the S3
endpoint's host name itself there (a proxy_pass with variables) and reads
no /etc/resolv.conf, so it is told the server. k3s's kube-dns is
10.43.0.10; another cluster's is
`kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}'`.
"""
import datetime
import difflib
import ipaddress
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "deploy", "k8s", "10-configmap.yaml")
NAMESPACE = "honeydue"

POD_CIDRS = ["10.0.0.0/8"]
CLUSTER_DNS = ["10.43.0.10"]  # k3s's kube-dns (its default service CIDR 10.43.0.0/16)
INGRESS_FILE = os.path.join(REPO, "deploy", "ingress-cidrs.txt")
CLOUDFLARE_FILE = os.path.join(REPO, "deploy", "cloudflare-ips.txt")

# The paths below are the containers' (deploy/k8s/40-api-deployment.yaml).
POD = {
    "@WORKER_PROCESSES@": "2",  # auto would count the node's CPUs, not the limit
    "@LISTEN@": "8080",
    "@STATE@": "/run/honeydue",  # the emptyDir both containers mount
    "@PID@": "/var/cache/nginx/nginx.pid",  # nginx's own emptyDir
    "@TMP@": "/var/cache/nginx",
    "@ERROR_LOG@": "stderr",
    "@STATIC@": "/usr/share/honeydue/static",  # copied by the init container
    "@REPO@": "/usr/share/honeydue",  # openapi.yaml, likewise
    "@NGINX@": "/etc/nginx/honeydue",  # this ConfigMap
    # The local backend's directory, for /_documents/. The cluster has no
    # such volume (STORAGE_BACKEND=s3: downloads go through /_s3/), so that
    # location never serves there; the path only keeps the template whole.
    "@STORAGE@": "/var/lib/honeydue/storage",
}
S3_TIMEOUT_DEFAULT = "30"  # the app's S3_TIMEOUT_SECONDS when the config file has none (config.c)


def s3_timeout():
    """@S3_TIMEOUT@: deploy/honeydue.conf's S3_TIMEOUT_SECONDS, so that nginx
    waits on the bucket for a download as long as the app does for the rest;
    SystemExit unless it is a number of seconds."""
    value = S3_TIMEOUT_DEFAULT
    for line in read("deploy", "honeydue.conf").splitlines():
        key, eq, v = line.partition("=")
        if eq and not line.lstrip().startswith("#") and key.strip() == "S3_TIMEOUT_SECONDS":
            value = v.strip()
    if not value.isdigit() or int(value) == 0:
        raise SystemExit("render_configmap: deploy/honeydue.conf: S3_TIMEOUT_SECONDS is not seconds: %r"
                         % value)
    return value


def resolver(addrs):
    """@RESOLVER@: nginx's resolver directive for the DNS servers ADDRS (IP
    addresses); valid= re-resolves the endpoint's name while nginx runs.
    SystemExit on anything but addresses."""
    out = []
    for a in addrs:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            raise SystemExit("render_configmap: CLUSTER_DNS: not an IP address: %r" % a)
        out.append("[%s]" % ip if ip.version == 6 else str(ip))
    if not out:
        raise SystemExit("render_configmap: CLUSTER_DNS is empty: nginx could not resolve the S3 endpoint")
    return "resolver %s valid=60s ipv6=off;" % " ".join(out)


def block(lines, indent):
    """Lines joined for a placeholder that stands alone on an indented line."""
    return ("\n" + " " * indent).join(lines)


def read_cidrs(path):
    """The networks of a CIDR file (one a line, # comments), as strings in
    canonical form; SystemExit naming the file and line on anything else."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                net = ipaddress.ip_network(line)
            except ValueError as e:
                raise SystemExit("render_configmap: %s:%d: not a CIDR: %s" % (path, n, e))
            if net.prefixlen < (8 if net.version == 4 else 16):
                raise SystemExit("render_configmap: %s:%d: %s is too wide to trust" % (path, n, net))
            out.append(str(net))
    return out


def peer_lines(pod_cidrs, ingress_cidrs, cloudflare):
    """@PEERS@: each network once, as its most suspicious kind."""
    kinds = {}
    for kind, nets in (("internal", ["127.0.0.1/32"] + pod_cidrs), ("ingress", ingress_cidrs),
                       ("cloudflare", cloudflare)):
        for net in nets:
            kinds[str(ipaddress.ip_network(net))] = kind  # later lists win
    return ["%s %s;" % (net, kind) for net, kind in kinds.items()]


def render_nginx(pod_cidrs=None, ingress_cidrs=None, cloudflare=None, cluster_dns=None):
    """The pod's nginx.conf, from nginx/honeydue.conf.in; the trusted
    networks and the DNS servers are the committed ones unless given
    (tests/deploy give their own loopback addresses)."""
    pod_cidrs = POD_CIDRS if pod_cidrs is None else pod_cidrs
    values = dict(POD, **{"@RESOLVER@": resolver(CLUSTER_DNS if cluster_dns is None else cluster_dns),
                          "@S3_TIMEOUT@": s3_timeout()})
    ingress_cidrs = read_cidrs(INGRESS_FILE) if ingress_cidrs is None else ingress_cidrs
    cloudflare = read_cidrs(CLOUDFLARE_FILE) if cloudflare is None else cloudflare
    with open(os.path.join(REPO, "nginx", "honeydue.conf.in"), encoding="utf-8") as f:
        tpl = f.read()
    peers = peer_lines(pod_cidrs, ingress_cidrs, cloudflare)
    cf = ["%s 1;" % ipaddress.ip_network(c) for c in cloudflare] or ["# none"]
    lines = tpl.split("\n")
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)  # the template's header, which explains the placeholders
    out = []
    skipping = False
    for line in lines:
        if "# bench-only: begin" in line:  # the bench's bare responder: not in a pod
            skipping = True
        if skipping:
            skipping = "# bench-only: end" not in line
            continue
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() == "@PEERS@":
            line = " " * indent + block(peers, indent)
        elif line.strip() == "@CLOUDFLARE@":
            line = " " * indent + block(cf, indent)
        out.append(line)
    text = "\n".join(out)
    for key, value in values.items():
        text = text.replace(key, value)
    header = ("# nginx.conf of the API pod: nginx/honeydue.conf.in (see its header),\n"
              "# rendered by deploy/render_configmap.py with the pod's values.\n\n")
    return header + text


def read(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as f:
        return f.read()


def literal(key, text):
    """A YAML literal block scalar for TEXT under KEY, at data's indentation."""
    if not text.endswith("\n"):
        text += "\n"
    for line in text.split("\n"):
        if line != line.rstrip():
            raise SystemExit("render_configmap: trailing whitespace in %s: %r" % (key, line))
    body = "".join(("    " + line if line else "") + "\n" for line in text.split("\n")[:-1])
    return "  %s: |\n%s" % (key, body)


def configmap(name, component, items):
    doc = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: %s" % name,
           "  namespace: %s" % NAMESPACE, "  labels:", "    app.kubernetes.io/name: honeydue",
           "    app.kubernetes.io/component: %s" % component, "data:"]
    return "\n".join(doc) + "\n" + "".join(literal(k, v) for k, v in items)


def render(**nets):
    """The ConfigMap file; NETS as render_nginx takes them."""
    head = ("# 10-configmap.yaml - generated by deploy/render_configmap.py: do not edit.\n"
            "# Sources: deploy/honeydue.conf (the app's HONEYDUE_CONFIG file) and\n"
            "# nginx/honeydue.conf.in, nginx/fastcgi_params, nginx/security_headers.conf,\n"
            "# deploy/ingress-cidrs.txt and deploy/cloudflare-ips.txt.\n")
    app = configmap("honeydue-config", "config", [("honeydue.conf", read("deploy", "honeydue.conf"))])
    nginx = configmap("honeydue-nginx", "nginx", [
        ("nginx.conf", render_nginx(**nets)),
        ("fastcgi_params", read("nginx", "fastcgi_params")),
        ("security_headers.conf", read("nginx", "security_headers.conf")),
    ])
    return head + "---\n" + app + "---\n" + nginx


def set_cloudflare_ips(sources):
    """deploy/cloudflare-ips.txt from Cloudflare's lists in SOURCES: every
    line a CIDR (an error page, an empty answer or a range wider than /8
    stops everything before a file changes, and so does a private or
    loopback range: Cloudflare publishes none)."""
    nets = []
    for src in sources:
        got = read_cidrs(src)
        if not got:
            raise SystemExit("render_configmap: %s: no ranges in it" % src)
        local = [n for n in got if not ipaddress.ip_network(n).is_global]
        if local:
            raise SystemExit("render_configmap: %s: not public ranges: %s" % (src, " ".join(local)))
        nets += [n for n in got if n not in nets]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = ("# cloudflare-ips.txt - Cloudflare's published ranges (https://www.cloudflare.com/ips/),\n"
            "# the peers whose CF-Connecting-IP the pod's nginx believes. Written by\n"
            "# `deploy/deploy.sh refresh-cloudflare-ips` on %s; rendered into\n"
            "# deploy/k8s/10-configmap.yaml by deploy/render_configmap.py.\n" % now)
    text += "".join(n + "\n" for n in nets)
    with open(CLOUDFLARE_FILE + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(CLOUDFLARE_FILE + ".tmp", CLOUDFLARE_FILE)
    print("render_configmap: wrote %s (%d ranges)" % (os.path.relpath(CLOUDFLARE_FILE, REPO), len(nets)))


def main(argv):
    if argv[1:2] == ["--set-cloudflare-ips"] and argv[2:]:
        set_cloudflare_ips(argv[2:])
        argv = argv[:1]
    text = render()
    if argv[1:] == ["--stdout"]:
        sys.stdout.write(text)
        return 0
    if argv[1:] == ["--check"]:
        try:
            old = read("deploy", "k8s", "10-configmap.yaml")
        except FileNotFoundError:
            old = ""
        if old == text:
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            old.splitlines(True), text.splitlines(True), "committed", "fresh rendering"))
        print("render_configmap: deploy/k8s/10-configmap.yaml is stale: run deploy/render_configmap.py")
        return 1
    if argv[1:]:
        print(__doc__.split("\n\n")[2] + "\n" + __doc__.split("\n\n")[4], file=sys.stderr)
        return 2
    with open(OUT + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(OUT + ".tmp", OUT)
    print("render_configmap: wrote %s" % os.path.relpath(OUT, REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
