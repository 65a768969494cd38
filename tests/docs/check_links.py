#!/usr/bin/env python3
"""Every relative link in README.md, docs/**/*.md and bindings/*/README.md
must resolve inside the repository: the file (or directory) exists, and a
#fragment names a heading of the target (GitHub's anchor rules).

Usage: check_links.py [REPO_ROOT]. Exit status 1 lists every broken link.
"""
import re
import sys
import unicodedata
from pathlib import Path

INLINE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, mailto:, ...


def prose_lines(text, keep_code=False):
    """(line number, line) outside fenced code blocks; code spans emptied
    unless keep_code (a heading's anchor includes their text)."""
    fence = None
    for no, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark[0] * len(mark)
            elif mark.startswith(fence):
                fence = None
            continue
        if fence is None:
            yield no, line if keep_code else re.sub(r"`+[^`]*`+", "``", line)


def slug(heading):
    """GitHub's anchor for a heading: lower case, markup and punctuation
    dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"[`*~]|<[^>]+>", "", text).strip().lower()
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in " -":
            out.append("-")
        elif ch == "_" or cat[0] in "LN" or cat == "Mn":
            out.append(ch)
    return "".join(out)


def anchors(path, cache={}):
    if path not in cache:
        seen, found = {}, set()
        for _, line in prose_lines(path.read_text(encoding="utf-8"), keep_code=True):
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            found.add(s if n == 0 else f"{s}-{n}")
        cache[path] = found
    return cache[path]


def links(path):
    for no, line in prose_lines(path.read_text(encoding="utf-8")):
        for m in INLINE.finditer(line):
            yield no, m.group(1)
        m = REFDEF.match(line)
        if m:
            yield no, m.group(1)


def check(root):
    root = root.resolve()
    files = [root / "README.md", *sorted((root / "docs").rglob("*.md")),
             *sorted(root.glob("bindings/*/README.md"))]
    broken, count = [], 0
    for md in files:
        if not md.is_file():
            continue
        for no, target in links(md):
            if EXTERNAL.match(target) or target.startswith("//"):
                continue
            count += 1
            where = f"{md.relative_to(root)}:{no}: {target}"
            file_part, _, frag = target.partition("#")
            dest = (md.parent / file_part).resolve() if file_part else md
            if dest != root and root not in dest.parents:
                broken.append(f"{where}: points outside the repository")
            elif not dest.exists():
                broken.append(f"{where}: {dest.relative_to(root)} does not exist")
            elif frag and (dest.is_dir() or dest.suffix != ".md"):
                broken.append(f"{where}: #{frag} on a file that has no headings")
            elif frag and frag not in anchors(dest):
                broken.append(f"{where}: no heading #{frag} in {dest.relative_to(root)}")
    return count, broken


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2])
    count, broken = check(root)
    for b in broken:
        print(b, file=sys.stderr)
    print(f"doc links: {count} relative links checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
