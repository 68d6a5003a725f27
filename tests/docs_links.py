#!/usr/bin/env python3
"""docs_links.py - every relative link in README.md and docs/*.md resolves:
the file (or directory) exists and, for a link with #anchor into a Markdown
file, a heading of that file has that anchor (GitHub's rule: lower case,
punctuation other than - and _ dropped, spaces to -, -1, -2... for repeats).
Links inside code spans and fenced blocks are not links and are skipped, as
are absolute URLs (http:, https:, mailto:). Standard library only; prints
each broken link and a summary, exits 1 if any. Usage: docs_links.py [ROOT]"""
import glob
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text):
    """The text outside fenced blocks and code spans, one string per line."""
    out, fence = [], None
    for line in text.split("\n"):
        m = re.match(r"\s*(```+|~~~+)", line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * len(m.group(1))
            elif m.group(1).startswith(fence):
                fence = None
            out.append("")
            continue
        out.append("" if fence else re.sub(r"(`+)(.+?)\1", "", line))
    return out


def anchors(path):
    """The anchors of a Markdown file's headings (code spans kept as text)."""
    seen, result = {}, set()
    text = open(path, encoding="utf-8").read()
    fence = None
    for line in text.split("\n"):
        m = re.match(r"\s*(```+|~~~+)", line)
        if m:
            fence = None if fence else m.group(1)
            continue
        h = None if fence else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not h:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h.group(1))  # a link's text
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


files = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
broken, checked, cache = [], 0, {}
for path in files:
    for n, line in enumerate(prose(open(path, encoding="utf-8").read()), 1):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
                continue
            checked += 1
            name, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), name)) if name else path
            where = f"{os.path.relpath(path, ROOT)}:{n}: {target}"
            if not os.path.exists(dest):
                broken.append(f"{where}: no such file")
            elif anchor and dest.endswith(".md"):
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if anchor not in cache[dest]:
                    broken.append(f"{where}: no heading with anchor #{anchor}")
for b in broken:
    print("docs links:", b)
print(f"docs links: {len(files)} files, {checked} relative links, {len(broken)} broken")
sys.exit(1 if broken else 0)
