#!/usr/bin/python3
"""openapi_lint.py [SPEC] [--routes ROUTES_C] - check the API contract.

SPEC (default openapi.yaml at the repository root) must be an OpenAPI 3.1
document whose every $ref resolves, whose every schema is valid JSON Schema
2020-12, whose every operation has a unique operationId, responses (a 2xx
among them) and TokenAuth security exactly when its route needs a token (and
then a 401), whose path parameters are declared, whose response objects are
strict (additionalProperties: false and required), and whose set of
(method, path) equals the route table in handlers/routes.c, both ways.
Prints each problem and exits 1, or prints one "ok" line and exits 0.
make lint and tests/run.sh run it with /usr/bin/python3 (Debian's
python3-yaml and python3-jsonschema, from tests/deps.sh).
"""
import argparse
import os
import re
import sys

import jsonschema
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# What every fragment may refer to (helper brief, "OpenAPI contract").
SHARED = {
    "schemas": ["Error"],
    "responses": ["BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict",
                  "PayloadTooLarge", "UnsupportedMediaType", "ValidationFailed",
                  "TooManyRequests", "Unavailable"],
    "parameters": ["Id"],
    "securitySchemes": ["TokenAuth"],
}
ROUTE_RE = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([^}]*?)\s*\}')


def parse_routes(path):
    """{(METHOD, pattern): needs_token} from the route table in routes.c."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.find("routes[]")
    if start < 0:
        raise SystemExit(f"openapi-lint: no routes[] table in {path}")
    routes = {}
    for method, pattern, _handler, flags in ROUTE_RE.findall(text[start:]):
        routes[(method, pattern)] = "ROUTE_AUTH" in flags or "ROUTE_STAFF" in flags
    return routes


class Lint:
    def __init__(self, doc):
        self.doc = doc
        self.problems = []

    def fail(self, where, msg):
        self.problems.append(f"{where}: {msg}")

    def resolve(self, ref):
        """The object a local $ref points to, or None."""
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        node = self.doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def deref(self, obj):
        for _ in range(20):
            if not (isinstance(obj, dict) and "$ref" in obj):
                return obj
            obj = self.resolve(obj["$ref"])
        return None

    # -- whole document --

    def shape(self):
        d = self.doc
        if not isinstance(d, dict):
            self.fail("document", "is not a mapping")
            return False
        if not str(d.get("openapi", "")).startswith("3.1."):
            self.fail("openapi", f"must be 3.1.x, is {d.get('openapi')!r}")
        info = d.get("info")
        if not isinstance(info, dict) or not info.get("title") or not info.get("version"):
            self.fail("info", "needs title and version")
        for key in ("paths", "components"):
            if not isinstance(d.get(key), dict):
                self.fail(key, "is missing or not a mapping")
                return False
        for section, names in SHARED.items():
            have = d["components"].get(section) or {}
            for name in names:
                if name not in have:
                    self.fail(f"components/{section}", f"{name} is missing (fragments rely on it)")
        ts = (d["components"].get("securitySchemes") or {}).get("TokenAuth") or {}
        if (ts.get("type"), ts.get("in"), ts.get("name")) != ("apiKey", "header", "Authorization"):
            self.fail("components/securitySchemes/TokenAuth", "must be apiKey in header Authorization")
        idp = (d["components"].get("parameters") or {}).get("Id") or {}
        idp_type = (idp.get("schema") or {}).get("type")
        if (idp.get("name"), idp.get("in"), idp_type) != ("id", "path", "integer"):
            self.fail("components/parameters/Id", "must be the integer path parameter id")
        return True

    def refs(self, node, where):
        """Every $ref anywhere resolves (local refs only)."""
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None and self.resolve(ref) is None:
                self.fail(where, f"$ref {ref!r} does not resolve")
            for k, v in node.items():
                self.refs(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self.refs(v, f"{where}/{i}")

    def schemas(self, node, where):
        """Every Schema Object (under a 'schema' key, or in components/schemas)
        is valid JSON Schema 2020-12."""
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "schema" and isinstance(v, (dict, bool)):
                    self.check_schema(v, f"{where}/schema")
                else:
                    self.schemas(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self.schemas(v, f"{where}/{i}")

    def check_schema(self, schema, where):
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.exceptions.SchemaError as e:
            self.fail(where, f"not valid JSON Schema 2020-12: {e.message}")

    def strict(self, schema, where, seen):
        """Response object schemas fail on what they do not describe: every
        object with properties has additionalProperties: false and required."""
        if isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen:
                return
            seen.add(ref)
            self.strict(self.resolve(ref), ref, seen)
            return
        if not isinstance(schema, dict):
            return
        if "properties" in schema and schema.get("type") == "object":
            if schema.get("additionalProperties") is not False and \
                    schema.get("unevaluatedProperties") is not False:
                self.fail(where, "a response object needs additionalProperties: false")
            if not schema.get("required"):
                self.fail(where, "a response object needs required: [the keys always sent]")
        for k, v in (schema.get("properties") or {}).items():
            self.strict(v, f"{where}/properties/{k}", seen)
        for key in ("items", "additionalProperties", "not", "if", "then", "else"):
            if isinstance(schema.get(key), dict):
                self.strict(schema[key], f"{where}/{key}", seen)
        for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            for i, v in enumerate(schema.get(key) or []):
                self.strict(v, f"{where}/{key}/{i}", seen)

    # -- operations --

    def operations(self, routes):
        ids = {}
        spec_ops = set()
        for template, item in self.doc["paths"].items():
            if not isinstance(item, dict):
                self.fail(template, "path item is not a mapping")
                continue
            # API paths end with / (DESIGN §5); /metrics is Prometheus's name.
            if not template.startswith("/") or (template.startswith("/api/") and not template.endswith("/")):
                self.fail(template, "paths start with /, and /api/ paths end with /")
            names = re.findall(r"\{([^}/]+)\}", template)
            for method, op in item.items():
                if method not in METHODS:
                    continue
                where = f"{method.upper()} {template}"
                spec_ops.add((method.upper(), template))
                if not isinstance(op, dict):
                    self.fail(where, "operation is not a mapping")
                    continue
                oid = op.get("operationId")
                if not oid:
                    self.fail(where, "no operationId")
                elif oid in ids:
                    self.fail(where, f"operationId {oid!r} is also used by {ids[oid]}")
                else:
                    ids[oid] = where
                if not op.get("summary"):
                    self.fail(where, "no summary")
                if not op.get("tags"):
                    self.fail(where, "no tags")
                self.path_params(where, names, op.get("parameters", []) + item.get("parameters", []))
                self.responses(where, op)
                needs = routes.get((method.upper(), template))
                has = any(isinstance(r, dict) and "TokenAuth" in r
                          for r in op.get("security", self.doc.get("security", [])) or [])
                if needs and not has:
                    self.fail(where, "the route needs a token: security: [{TokenAuth: []}]")
                if needs and "401" not in (op.get("responses") or {}):
                    self.fail(where, "the route needs a token, so it answers 401")
                if needs is False and has:
                    self.fail(where, "declares TokenAuth but the route needs no token")
        for method, pattern in sorted(set(routes) - spec_ops):
            self.fail(f"{method} {pattern}", "is in handlers/routes.c but not in the spec")
        for method, template in sorted(spec_ops - set(routes)):
            self.fail(f"{method} {template}", "is in the spec but not in handlers/routes.c")
        return len(spec_ops)

    def path_params(self, where, names, params):
        declared = []
        for p in params:
            p = self.deref(p)
            if isinstance(p, dict) and p.get("in") == "path":
                if p.get("name") in declared:
                    continue  # an operation's own overrides the path item's
                declared.append(p.get("name"))
                if p.get("required") is not True:
                    self.fail(where, f"path parameter {p.get('name')} must be required: true")
                if (p.get("schema") or {}).get("type") != "integer":
                    self.fail(where, f"path parameter {p.get('name')} must be an integer (router.h)")
        if sorted(declared) != sorted(names):
            self.fail(where, f"path parameters declared {sorted(declared)}, template has {sorted(names)}")

    def responses(self, where, op):
        responses = op.get("responses")
        if not isinstance(responses, dict) or not responses:
            self.fail(where, "no responses")
            return
        if not any(str(s).startswith("2") for s in responses):
            self.fail(where, "no 2xx response")
        for status, resp in responses.items():
            w = f"{where} {status}"
            if not re.fullmatch(r"[1-5](\d\d|XX)|default", str(status)):
                self.fail(w, "is not a status code")
            if isinstance(resp, dict) and "$ref" not in resp and not resp.get("description"):
                self.fail(w, "a response needs a description")
            resp = self.deref(resp)
            if not isinstance(resp, dict):
                continue
            for media, mt in (resp.get("content") or {}).items():
                if "schema" in (mt or {}):
                    self.strict(mt["schema"], f"{w} {media}", set())
            if str(status) in ("204", "304") and resp.get("content"):
                self.fail(w, "has no body, so no content")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec", nargs="?", default=os.path.join(REPO, "openapi.yaml"))
    ap.add_argument("--routes", default=os.path.join(REPO, "handlers", "routes.c"))
    args = ap.parse_args(argv[1:])
    try:
        with open(args.spec, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        print(f"openapi-lint: {args.spec}: {e}")
        return 1
    lint = Lint(doc)
    n = 0
    if lint.shape():
        lint.refs(doc, "#")
        lint.schemas(doc.get("paths"), "#/paths")
        for section in ("parameters", "headers", "responses", "requestBodies"):
            lint.schemas(doc["components"].get(section) or {}, f"#/components/{section}")
        for name, schema in (doc["components"].get("schemas") or {}).items():
            lint.check_schema(schema, f"#/components/schemas/{name}")
        n = lint.operations(parse_routes(args.routes))
    for p in lint.problems:
        print(f"openapi-lint: {p}")
    if lint.problems:
        print(f"openapi-lint: {args.spec}: {len(lint.problems)} problem(s)")
        return 1
    print(f"openapi-lint: {args.spec}: ok ({n} operations, all of handlers/routes.c)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
