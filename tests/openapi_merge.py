#!/usr/bin/python3
"""openapi_merge.py [--spec FILE] [--dry-run] FRAGMENT... - merge fragments
(docs/openapi-<resource>.yaml) into the contract (default openapi.yaml at the
repository root).

A fragment has only top-level `paths:` and `components:` with `schemas:`.
Its paths and schemas are added; a (path, method) or a schema name the spec
(or an earlier fragment) already has is refused, and so is a path-level key
(parameters...) that differs from the one the spec has. Nothing is written
unless every fragment merges.

The spec's own text is kept as it is, comments included: new methods go at
the end of their path's block, new paths at the end of `paths:` sorted by
path, new schemas at the end of `components: schemas:` sorted by name, so
the result does not depend on the order of the fragments. The text written
is parsed back and must equal the merged document, or nothing is written.
Then run tests/openapi_lint.py on the result.
"""
import argparse
import copy
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class MergeError(Exception):
    pass


def load(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        return text, yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise MergeError(f"{path}: not YAML: {e}") from e


def check_fragment(path, frag):
    if not isinstance(frag, dict):
        raise MergeError(f"{path}: not a mapping")
    extra = set(frag) - {"paths", "components"}
    if extra:
        raise MergeError(f"{path}: only paths: and components: may be at the top, not {sorted(extra)}")
    comps = frag.get("components") or {}
    if not isinstance(comps, dict) or set(comps) - {"schemas"}:
        raise MergeError(f"{path}: components: may hold only schemas:")
    for key, value in (("paths", frag.get("paths") or {}), ("schemas", comps.get("schemas") or {})):
        if not isinstance(value, dict):
            raise MergeError(f"{path}: {key}: is not a mapping")
    for template, item in (frag.get("paths") or {}).items():
        if not isinstance(item, dict) or not any(m in item for m in METHODS):
            raise MergeError(f"{path}: {template}: has no operation")


def merge_docs(doc, fragments):
    """The merged document, and what to add: {new path: item},
    {existing path: {method or key: value}}, {schema name: schema}."""
    merged = copy.deepcopy(doc)
    paths = merged.setdefault("paths", {})
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    new_paths, new_methods, new_schemas = {}, {}, {}
    origin = {}
    for fpath, frag in fragments:
        for template, item in (frag.get("paths") or {}).items():
            if template in paths and template not in new_paths:
                have = paths[template]
                for key, value in item.items():
                    if key in METHODS:
                        if key in have:
                            by = origin.get((template, key), "the spec")
                            raise MergeError(f"{fpath}: {key.upper()} {template} is already in {by}")
                        have[key] = value
                        new_methods.setdefault(template, {})[key] = value
                        origin[(template, key)] = fpath
                    elif key not in have:  # say, parameters the spec's path item lacks
                        have[key] = value
                        new_methods.setdefault(template, {})[key] = value
                        origin[(template, None)] = fpath
                    elif have[key] != value:
                        raise MergeError(f"{fpath}: {template}: {key} differs from the spec's")
            elif template in new_paths:
                have = new_paths[template]
                for key, value in item.items():
                    if key in METHODS and key in have:
                        raise MergeError(f"{fpath}: {key.upper()} {template} is already in "
                                         f"{origin[(template, key)]}")
                    if key not in METHODS and key in have and have[key] != value:
                        raise MergeError(f"{fpath}: {template}: {key} differs from "
                                         f"{origin[(template, None)]}'s")
                    have[key] = value
                    origin[(template, key if key in METHODS else None)] = fpath
            else:
                new_paths[template] = copy.deepcopy(item)
                paths[template] = new_paths[template]
                for key in item:
                    origin[(template, key if key in METHODS else None)] = fpath
        for name, schema in ((frag.get("components") or {}).get("schemas") or {}).items():
            if name in schemas:
                by = origin.get(("#schema", name), "the spec")
                raise MergeError(f"{fpath}: schema {name} is already in {by}")
            schemas[name] = new_schemas[name] = schema
            origin[("#schema", name)] = fpath
    # Stable order: sorted, whatever the order of the fragments.
    for template in sorted(new_paths):
        paths[template] = paths.pop(template)
    for name in sorted(new_schemas):
        schemas[name] = schemas.pop(name)
    return merged, new_paths, new_methods, new_schemas


def dump(obj, indent):
    """OBJ as block YAML, every line indented by INDENT spaces."""
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=None, allow_unicode=True,
                          width=100)
    return [(" " * indent + line) if line else line for line in text.splitlines()]


def block_end(lines, start, indent):
    """Index after the block that starts at line START (a key at INDENT):
    the next line indented at most INDENT that is not blank or a comment,
    less the blank and comment lines just before it."""
    end = len(lines)
    for i in range(start + 1, len(lines)):
        s = lines[i]
        if s.strip() and not s.lstrip().startswith("#") and len(s) - len(s.lstrip()) <= indent:
            end = i
            break
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return end


def find_key(lines, key, indent, lo=0, hi=None):
    """Line index of mapping key KEY at exactly INDENT spaces within [lo, hi)."""
    pat = re.compile(r"^ {%d}(%s|'%s'|\"%s\")\s*:(\s|$)" % (indent, *(re.escape(key),) * 3))
    for i in range(lo, len(lines) if hi is None else hi):
        if pat.match(lines[i]):
            return i
    return None


def merge_text(text, new_paths, new_methods, new_schemas):
    lines = text.splitlines()
    inserts = []  # (line index, [lines])
    p = find_key(lines, "paths", 0)
    if p is None:
        raise MergeError("the spec has no top-level paths:")
    p_end = block_end(lines, p, 0)
    for template, ops in new_methods.items():
        t = find_key(lines, template, 2, p, p_end)
        if t is None:
            raise MergeError(f"cannot find {template} in the spec's text")
        inserts.append((block_end(lines, t, 2), dump(ops, 4)))
    if new_paths:
        added = []
        for template in sorted(new_paths):
            added += [""] + dump({template: new_paths[template]}, 2)
        inserts.append((p_end, added))
    if new_schemas:
        c = find_key(lines, "components", 0)
        s = find_key(lines, "schemas", 2, c, block_end(lines, c, 0)) if c is not None else None
        if s is None:
            raise MergeError("the spec has no components: schemas:")
        added = []
        for name in sorted(new_schemas):
            added += dump({name: new_schemas[name]}, 4)
        inserts.append((block_end(lines, s, 2), added))
    # Bottom-up, so earlier indexes stay valid; at one index, in the order made.
    for at, new in sorted(inserts, key=lambda x: x[0], reverse=True):
        lines[at:at] = new
    return "\n".join(lines) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spec", default=os.path.join(REPO, "openapi.yaml"))
    ap.add_argument("--dry-run", action="store_true", help="check and report; write nothing")
    ap.add_argument("fragments", nargs="+")
    args = ap.parse_args(argv[1:])
    try:
        text, doc = load(args.spec)
        frags = []
        for f in args.fragments:
            frag = load(f)[1]
            check_fragment(f, frag)
            frags.append((f, frag))
        merged, new_paths, new_methods, new_schemas = merge_docs(doc, frags)
        out = merge_text(text, new_paths, new_methods, new_schemas)
        if yaml.safe_load(out) != merged:
            raise MergeError("the merged text does not parse back to the merged document "
                             "(unusual layout in the spec?); nothing written")
    except MergeError as e:
        print(f"openapi-merge: {e}", file=sys.stderr)
        return 1
    n_ops = sum(1 for item in new_paths.values() for m in item if m in METHODS)
    n_ops += sum(1 for ops in new_methods.values() for m in ops if m in METHODS)
    verb = "would add" if args.dry_run else "added"
    print(f"openapi-merge: {verb} {n_ops} operations ({len(new_paths)} new paths) and "
          f"{len(new_schemas)} schemas to {args.spec}")
    if not args.dry_run:
        tmp = args.spec + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(out)
        os.replace(tmp, args.spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
