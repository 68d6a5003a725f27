#!/usr/bin/env python3
"""config_lint.py - the configuration keys agree in four places: every key
the C code reads (config_get/config_int, and the required lists) is in
fcgi-app/config.c's table (a key missing there is never read from the
environment or HONEYDUE_CONFIG: its default always wins), the table and
the Configuration table of docs/operations.md list the same keys, and every key of the
cluster's config file (deploy/honeydue.conf) is one the table knows. Exit 1 with the
differences; run by `make lint` and counted as one test by `make test`."""
import glob
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."


def read(path):
    with open(f"{ROOT}/{path}") as f:
        return f.read()


table_src = read("fcgi-app/config.c")
body = table_src[table_src.index("config_table[] = {"):]
table = set(re.findall(r'\{"([A-Z][A-Z0-9_]+)",', body[:body.index("};")]))

used = {}
for path in sorted(glob.glob(f"{ROOT}/fcgi-app/*.c") + glob.glob(f"{ROOT}/handlers/*.c")
                   + glob.glob(f"{ROOT}/jobs/*.c")):
    src = open(path).read()
    rel = path[len(ROOT) + 1:]
    for key in re.findall(r'config_(?:get|int)\("([A-Z][A-Z0-9_]+)"', src):
        used.setdefault(key, rel)
    for key in re.findall(r'\.count_key\s*=\s*"([A-Z][A-Z0-9_]+)"', src):  # a pool's size (sup_pool)
        used.setdefault(key, rel)
    for block in re.findall(r'required\[\]\s*=\s*\{([^}]*)\}', src):
        for key in re.findall(r'"([A-Z][A-Z0-9_]+)"', block):
            used.setdefault(key, rel)

ops = read("docs/operations.md")
section = ops[ops.index("\n## Configuration"):]
section = section[:section.index("\n## ", 1)]
documented = set()
for line in section.splitlines():
    if not line.startswith("| `"):
        continue
    first_cell = line.split("|")[1]
    prev = None
    for tok in re.findall(r"`([A-Z_][A-Z0-9_]*)`", first_cell):
        if tok.startswith("_") and prev:  # `HONEYDUE_EMERGENCY_THRESHOLD` / `_INTERVAL`
            tok = prev.rsplit("_", 1)[0] + tok
        documented.add(tok)
        prev = tok

problems = []
for key, where in sorted(used.items()):
    if key not in table:
        problems.append(f"{key} is read in {where} but is not in config.c's table: "
                        "the environment and HONEYDUE_CONFIG never reach it")
for key in sorted(table - documented):
    problems.append(f"{key} is in config.c's table but not in docs/operations.md's Configuration table")
for key in sorted(documented - table - {"HONEYDUE_CONFIG"}):
    problems.append(f"{key} is in docs/operations.md's Configuration table but not in config.c's table")
try:
    deploy_conf = read("deploy/honeydue.conf")
except FileNotFoundError:
    deploy_conf = ""
for n, line in enumerate(deploy_conf.splitlines(), 1):
    line = line.strip()
    if line and not line.startswith("#"):
        key = line.split("=", 1)[0].strip()
        if key not in table:
            problems.append(f"deploy/honeydue.conf:{n}: {key} is not a configuration key")
for p in problems:
    print("config lint:", p)
print(f"config lint: {len(table)} keys, {len(used)} read, {len(documented)} documented, "
      f"{len(problems)} problems")
sys.exit(1 if problems else 0)
