#!/usr/bin/env python3
"""The module graph of each crate, and its circles.

For every top-level module of a crate (src/app, src/store, ..., engine/src/runner, ...) it lists
the other top-level modules its code names through `crate::` or `super::` paths, tests
included (a test fixture that reaches into another room ties the rooms as much as code does).
Then it prints each circle: a set of modules that reach each other. Exit status 1 if any.

    python3 scripts/module-graph.py            # both crates
    python3 scripts/module-graph.py --dot      # Graphviz, for a picture: | dot -Tsvg
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = {"cifar-tui": ROOT / "src", "cifar-engine": ROOT / "engine" / "src"}
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def top_module(src, path):
    """The top-level module a file belongs to: `app` for src/app/keys.rs, `run` for src/run.rs."""
    rel = path.relative_to(src).parts
    if len(rel) == 1:
        stem = Path(rel[0]).stem
        return None if stem in ("lib", "main") else stem
    return rel[0]


def braced(text, start):
    """The text inside the braces that open at `start`."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1 : i]
    return text[start + 1 :]


def heads(group):
    """The first path segment of each item of a `{a::b, c, d::{e, f}}` group."""
    items, depth, cur = [], 0, ""
    for ch in group:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    return [m.group(0) for item in items if (m := re.match(IDENT, item.strip()))]


def named(text, prefix):
    """Modules named right after `prefix` (e.g. `crate::`) in `text`."""
    found = set()
    for m in re.finditer(re.escape(prefix) + r"(\{|" + IDENT + ")", text):
        if m.group(1) == "{":
            found.update(heads(braced(text, m.start(1))))
        else:
            found.add(m.group(1))
    return found


def graph(src):
    modules = {top_module(src, p) for p in src.rglob("*.rs")} - {None}
    edges = {m: set() for m in modules}
    for path in src.rglob("*.rs"):
        me = top_module(src, path)
        if me is None:
            continue
        text = strip_comments(path.read_text())
        targets = named(text, "crate::")
        # `super::x` from a file directly in a top-level module's folder names a sibling room.
        depth = len(path.relative_to(src).parts) - (0 if path.name == "mod.rs" else 1)
        if depth == 1:
            targets |= named(text, "super::")
        edges[me] |= {t for t in targets if t in modules and t != me}
    return edges


def circles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    dot = "--dot" in sys.argv
    bad = False
    for crate, src in CRATES.items():
        edges = graph(src)
        if dot:
            print(f'digraph "{crate}" {{')
            for a in sorted(edges):
                for b in sorted(edges[a]):
                    print(f'  "{a}" -> "{b}";')
            print("}")
            continue
        print(f"{crate}:")
        for a in sorted(edges):
            print(f"  {a:<12} -> {', '.join(sorted(edges[a])) or '(nothing)'}")
        found = circles(edges)
        for c in found:
            print(f"  CIRCLE: {' <-> '.join(c)}")
        print(f"  {len(found)} circle(s)")
        bad |= bool(found)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
