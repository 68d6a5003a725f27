"""k8s.py - what the deploy tests share: the manifests of deploy/k8s/ loaded
and checked against a structural schema, and deploy/Dockerfile parsed.

No cluster and no kubectl: the schema below is the subset of the Kubernetes
API these manifests use, written strictly (additionalProperties false where
Kubernetes would reject an unknown field with --validate=strict), so a typo
such as `livenesProbe` or `mountpath` fails here as it would fail on apply.
A field the schema does not know yet is added to it, not ignored.
"""
import glob
import importlib.util
import json
import os
import re
import shlex

import jsonschema
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(REPO, "deploy", "k8s")
NAMESPACE = "honeydue"
IMAGE_PLACEHOLDER = "registry.example.com/honeydue:TAG"

# ---- loading ---------------------------------------------------------------


def manifest_files():
    """The files `kubectl apply -f deploy/k8s/` reads (.yaml, .yml, .json)."""
    return sorted(f for f in glob.glob(os.path.join(K8S, "*"))
                  if f.endswith((".yaml", ".yml", ".json")))


def load_file(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def objects():
    """Every object of deploy/k8s/, as (file name, object)."""
    return [(os.path.basename(p), d) for p in manifest_files() for d in load_file(p)]


def find(kind, name):
    for _, o in objects():
        if o.get("kind") == kind and o["metadata"]["name"] == name:
            return o
    raise KeyError(f"no {kind} {name} in deploy/k8s/")


def render_configmap():
    """deploy/render_configmap.py as a module (its renderers and CIDR files)."""
    spec = importlib.util.spec_from_file_location(
        "render_configmap", os.path.join(REPO, "deploy", "render_configmap.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def secret_template():
    """secret.yaml.example: the Secret honeydue-secrets, the environment's."""
    (obj,) = load_file(os.path.join(K8S, "secret.yaml.example"))
    return obj


def push_secret_template():
    """push-secret.yaml.example: the Secret honeydue-push, the push
    providers' key files (mounted into the worker's pod, optional)."""
    (obj,) = load_file(os.path.join(K8S, "push-secret.yaml.example"))
    return obj


def secret_templates():
    """Every Secret the manifests may refer to, by name (none is applied:
    the cluster's are made from these examples)."""
    return {o["metadata"]["name"]: o for o in (secret_template(), push_secret_template())}


# ---- the schema --------------------------------------------------------------

S = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
STRS = {"type": "array", "items": S}
NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
STRMAP = {"type": "object", "additionalProperties": S}
QUANTITY = {"anyOf": [{"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"},
                      {"type": "integer", "minimum": 0}]}
INT_OR_STR = {"type": ["integer", "string"]}
PORT = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535}, NAME]}
MODE = {"type": "integer", "minimum": 0, "maximum": 0o777}  # a file mode (YAML's 0440 is octal)


def obj(props, required=()):
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


def ref(name):
    return {"$ref": f"#/$defs/{name}"}


DEFS = {
    "metadata": obj({"name": NAME, "namespace": NAME, "labels": STRMAP, "annotations": STRMAP},
                    ["name"]),
    "labelSelector": obj({"matchLabels": STRMAP, "matchExpressions": {"type": "array"}}),
    "handler": {
        **obj({
            "exec": obj({"command": STRS}, ["command"]),
            "httpGet": obj({"path": S, "port": PORT, "host": S,
                            "scheme": {"enum": ["HTTP", "HTTPS"]},
                            "httpHeaders": {"type": "array", "items": obj({"name": S, "value": S},
                                                                          ["name", "value"])}},
                           ["port"]),
            "tcpSocket": obj({"port": PORT, "host": S}, ["port"]),
            "sleep": obj({"seconds": INT}, ["seconds"]),
        }),
        "minProperties": 1, "maxProperties": 1,
    },
    "probe": obj({
        "exec": obj({"command": STRS}, ["command"]),
        "httpGet": obj({"path": S, "port": PORT, "host": S, "scheme": {"enum": ["HTTP", "HTTPS"]}},
                       ["port"]),
        "tcpSocket": obj({"port": PORT}, ["port"]),
        "grpc": obj({"port": INT, "service": S}, ["port"]),
        "initialDelaySeconds": INT, "periodSeconds": INT, "timeoutSeconds": INT,
        "failureThreshold": INT, "successThreshold": INT, "terminationGracePeriodSeconds": INT,
    }),
    "resources": obj({
        "requests": {"type": "object", "additionalProperties": QUANTITY},
        "limits": {"type": "object", "additionalProperties": QUANTITY},
    }),
    "keyRef": obj({"name": NAME, "key": S, "optional": BOOL}, ["key"]),
    "seccomp": obj({"type": {"enum": ["RuntimeDefault", "Localhost", "Unconfined"]},
                    "localhostProfile": S}, ["type"]),
    "container": obj({
        "name": NAME, "image": S, "imagePullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
        "command": STRS, "args": STRS, "workingDir": S,
        "env": {"type": "array", "items": obj({
            "name": S, "value": S,
            "valueFrom": obj({"configMapKeyRef": ref("keyRef"), "secretKeyRef": ref("keyRef"),
                              "fieldRef": obj({"fieldPath": S, "apiVersion": S}, ["fieldPath"]),
                              "resourceFieldRef": obj({"resource": S, "containerName": S,
                                                       "divisor": QUANTITY}, ["resource"])}),
        }, ["name"])},
        "envFrom": {"type": "array", "items": obj({
            "prefix": S,
            "configMapRef": obj({"name": NAME, "optional": BOOL}, ["name"]),
            "secretRef": obj({"name": NAME, "optional": BOOL}, ["name"]),
        })},
        "ports": {"type": "array", "items": obj({
            "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 15},
            "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
            "protocol": {"enum": ["TCP", "UDP", "SCTP"]}}, ["containerPort"])},
        "livenessProbe": ref("probe"), "readinessProbe": ref("probe"), "startupProbe": ref("probe"),
        "lifecycle": obj({"preStop": ref("handler"), "postStart": ref("handler")}),
        "resources": ref("resources"),
        "securityContext": obj({
            "runAsUser": INT, "runAsGroup": INT, "runAsNonRoot": BOOL, "privileged": BOOL,
            "allowPrivilegeEscalation": BOOL, "readOnlyRootFilesystem": BOOL,
            "capabilities": obj({"add": STRS, "drop": STRS}), "seccompProfile": ref("seccomp"),
        }),
        "volumeMounts": {"type": "array", "items": obj({
            "name": NAME, "mountPath": {"type": "string", "pattern": "^/"}, "readOnly": BOOL,
            "subPath": S}, ["name", "mountPath"])},
        "terminationMessagePolicy": {"enum": ["File", "FallbackToLogsOnError"]},
    }, ["name", "image"]),
    "volume": {
        **obj({
            "name": NAME,
            "configMap": obj({"name": NAME, "defaultMode": INT, "optional": BOOL,
                              "items": {"type": "array", "items": obj(
                                  {"key": S, "path": S, "mode": INT}, ["key", "path"])}}, ["name"]),
            "secret": obj({"secretName": NAME, "defaultMode": MODE, "optional": BOOL,
                           "items": {"type": "array", "items": obj(
                               {"key": S, "path": S, "mode": MODE}, ["key", "path"])}},
                          ["secretName"]),
            "emptyDir": obj({"medium": {"enum": ["", "Memory"]}, "sizeLimit": QUANTITY}),
            "persistentVolumeClaim": obj({"claimName": NAME, "readOnly": BOOL}, ["claimName"]),
        }, ["name"]),
        "minProperties": 2, "maxProperties": 2,
    },
    "podSpec": obj({
        "containers": {"type": "array", "items": ref("container"), "minItems": 1},
        "initContainers": {"type": "array", "items": ref("container")},
        "volumes": {"type": "array", "items": ref("volume")},
        "restartPolicy": {"enum": ["Always", "OnFailure", "Never"]},
        "terminationGracePeriodSeconds": INT,
        "securityContext": obj({
            "runAsUser": INT, "runAsGroup": INT, "runAsNonRoot": BOOL, "fsGroup": INT,
            "supplementalGroups": {"type": "array", "items": INT},
            "fsGroupChangePolicy": {"enum": ["OnRootMismatch", "Always"]},
            "seccompProfile": ref("seccomp"),
        }),
        "serviceAccountName": NAME, "automountServiceAccountToken": BOOL,
        "nodeSelector": STRMAP, "affinity": {"type": "object"}, "tolerations": {"type": "array"},
        "topologySpreadConstraints": {"type": "array"}, "imagePullSecrets": {"type": "array"},
        "shareProcessNamespace": BOOL, "priorityClassName": S,
    }, ["containers"]),
    "podTemplate": obj({"metadata": obj({"labels": STRMAP, "annotations": STRMAP}),
                        "spec": ref("podSpec")}, ["spec"]),
}


def top(api, kind, spec=None, extra=None, spec_required=True):
    props = {"apiVersion": {"const": api}, "kind": {"const": kind}, "metadata": ref("metadata")}
    req = ["apiVersion", "kind", "metadata"]
    if spec is not None:
        props["spec"] = spec
        if spec_required:
            req.append("spec")
    props.update(extra or {})
    return obj(props, req)


KINDS = {
    "Namespace": top("v1", "Namespace", obj({"finalizers": STRS}), spec_required=False),
    "ConfigMap": top("v1", "ConfigMap", extra={"data": STRMAP, "binaryData": STRMAP,
                                               "immutable": BOOL}),
    "Secret": top("v1", "Secret", extra={"type": S, "data": STRMAP, "stringData": STRMAP,
                                         "immutable": BOOL}),
    "PersistentVolumeClaim": top("v1", "PersistentVolumeClaim", obj({
        "accessModes": {"type": "array", "minItems": 1, "items": {"enum": [
            "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]}},
        "resources": obj({"requests": obj({"storage": QUANTITY}, ["storage"])}, ["requests"]),
        "storageClassName": S, "volumeMode": {"enum": ["Filesystem", "Block"]},
    }, ["accessModes", "resources"])),
    "Deployment": top("apps/v1", "Deployment", obj({
        "replicas": INT, "selector": ref("labelSelector"), "template": ref("podTemplate"),
        "strategy": obj({"type": {"enum": ["RollingUpdate", "Recreate"]},
                         "rollingUpdate": obj({"maxSurge": INT_OR_STR, "maxUnavailable": INT_OR_STR})}),
        "revisionHistoryLimit": INT, "minReadySeconds": INT, "progressDeadlineSeconds": INT,
    }, ["selector", "template"])),
    "Job": top("batch/v1", "Job", obj({
        "template": ref("podTemplate"), "backoffLimit": INT, "activeDeadlineSeconds": INT,
        "ttlSecondsAfterFinished": INT, "completions": INT, "parallelism": INT,
    }, ["template"])),
    "Service": top("v1", "Service", obj({
        "selector": STRMAP, "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]},
        "clusterIP": S,
        "ports": {"type": "array", "minItems": 1, "items": obj({
            "name": NAME, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "targetPort": PORT, "protocol": {"enum": ["TCP", "UDP", "SCTP"]}}, ["port"])},
    }, ["ports"])),
    "Ingress": top("networking.k8s.io/v1", "Ingress", obj({
        "ingressClassName": S,
        "tls": {"type": "array", "items": obj({"hosts": STRS, "secretName": NAME})},
        "rules": {"type": "array", "items": obj({"host": S, "http": obj({"paths": {
            "type": "array", "minItems": 1, "items": obj({
                "path": S, "pathType": {"enum": ["Exact", "Prefix", "ImplementationSpecific"]},
                "backend": obj({"service": obj({"name": NAME, "port": {
                    **obj({"name": NAME, "number": INT}), "minProperties": 1, "maxProperties": 1}},
                    ["name", "port"])}, ["service"]),
            }, ["path", "pathType", "backend"])}}, ["paths"])})},
    })),
    "NetworkPolicy": top("networking.k8s.io/v1", "NetworkPolicy", obj({
        "podSelector": ref("labelSelector"),
        "policyTypes": {"type": "array", "items": {"enum": ["Ingress", "Egress"]}},
        "ingress": {"type": "array", "items": obj({
            "from": {"type": "array", "items": {
                **obj({"podSelector": ref("labelSelector"),
                       "namespaceSelector": ref("labelSelector"),
                       "ipBlock": obj({"cidr": S, "except": STRS}, ["cidr"])}),
                "minProperties": 1}},
            "ports": {"type": "array", "items": obj({
                "protocol": {"enum": ["TCP", "UDP", "SCTP"]}, "port": PORT, "endPort": INT})}})},
    }, ["podSelector"])),
    "PodDisruptionBudget": top("policy/v1", "PodDisruptionBudget", {
        **obj({"minAvailable": INT_OR_STR, "maxUnavailable": INT_OR_STR,
               "selector": ref("labelSelector"),
               "unhealthyPodEvictionPolicy": {"enum": ["IfHealthyBudget", "AlwaysAllow"]}},
              ["selector"]),
        "minProperties": 2, "maxProperties": 3,
    }),
}


def schema_errors(o):
    """Messages for everything in O the schema refuses ([] when it passes)."""
    kind = o.get("kind") if isinstance(o, dict) else None
    if kind not in KINDS:
        return [f"unknown kind {kind!r}"]
    schema = dict(KINDS[kind])
    schema["$defs"] = DEFS
    v = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
            for e in v.iter_errors(o)]


def pod_spec(o):
    return o["spec"]["template"]["spec"]


def all_containers(o):
    spec = pod_spec(o)
    return spec.get("initContainers", []) + spec["containers"]


# ---- deploy/Dockerfile ---------------------------------------------------------


def dockerfile_stages(path=None):
    """The Dockerfile as a list of stages: {"from", "name", "instructions":
    [(INSTRUCTION, text)]}, continuation lines joined, comments dropped."""
    with open(path or os.path.join(REPO, "deploy", "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\\n", " ", text)
    stages = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        ins, _, rest = s.partition(" ")
        ins = ins.upper()
        rest = rest.strip()
        if ins == "FROM":
            m = re.match(r"^(\S+)(?:\s+AS\s+(\S+))?$", rest, re.I)
            stages.append({"from": m.group(1), "name": m.group(2), "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((ins, rest))
    return stages


def copy_args(rest):
    """A COPY's (--from stage or None, [sources], destination)."""
    if rest.startswith("["):
        words = json.loads(rest)
    else:
        words = shlex.split(rest)
    frm = None
    while words and words[0].startswith("--"):
        w = words.pop(0)
        if w.startswith("--from="):
            frm = w.split("=", 1)[1]
    return frm, words[:-1], words[-1]


def apt_packages(run):
    """The packages an `apt-get install` in a RUN line names."""
    m = re.search(r"apt-get install ([^&;|]*)", run)
    if not m:
        return []
    return [w for w in m.group(1).split() if not w.startswith("-")]
