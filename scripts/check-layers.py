#!/usr/bin/env python3
"""Dependency-direction check for the crate's top-level modules (src/<module>/... or src/<module>.rs).

It owns one rule: code may only depend "downwards". ALLOWED below is the layering: each top-level
module and the modules it may name through `crate::`. Every `use crate::x...`, `crate::x::` path
and `use crate::{x, y::z}` group (also multi-line) outside comments and string literals is an edge
to x; `super::` and self-references are not. The check fails (exit 1) on a cycle between modules, on
an edge ALLOWED does not list, and on a module missing from ALLOWED, so that a new module is placed
in the layers deliberately. Each failure names the file:line that creates it.

Why: the layers keep the pure core (domain, tokens) free of I/O and the edges (api, cli) free to
change without touching the engine, and a cycle makes that impossible. rustc does not check it.

Usage: check-layers.py [--root DIR] | --self-test        (standard library only)
"""
import os, re, sys, tempfile

# Module -> the modules it may import. Edit here when the layers change (crate root excluded).
ALLOWED = {
    "domain":        set(),                                     # types and rules, no I/O
    "metrics":       set(),                                     # metric names and the recorder
    "telemetry":     set(),                                     # logging setup and its settings
    "tokens":        {"domain"},                                # pure ES384 claims and signing
    "db":            {"domain"},                                # all SQL
    "aws":           {"domain", "metrics"},                     # the AWS facade
    # Engines: never another engine or an edge (cli wires what one engine needs from another).
    "reconciler":    {"domain", "db", "aws", "metrics"},
    "playback_keys": {"domain", "db", "aws", "tokens", "metrics"},
    "webhooks":      {"domain", "db", "metrics"},              # webhook delivery (HTTP out)
    "live":          {"domain", "aws"},                        # live stream status, cached
    "actions":       {"domain", "db", "aws"},                  # channel actions both edges ask for
    "events":        {"domain", "db", "aws", "metrics"},       # IVS event intake (SQS in)
    # Edges: may drive engines, never another edge.
    "api":           {"domain", "db", "aws", "tokens", "playback_keys", "metrics", "live",
                      "actions"},                                # HTTP
    "console":       {"domain", "db", "aws", "tokens", "playback_keys", "metrics", "live",
                      "actions"},                                # operator console (HTML)
    "cli":           {"domain", "db", "aws", "reconciler", "playback_keys", "tokens", "api",
                      "console", "webhooks", "events", "metrics", "telemetry", "live"},  # command-line edge (also wires the process together)
}

ROOT_FILES = {"lib.rs", "main.rs"}  # the crate root: skipped
RAW, CHAR = re.compile(r'b?r(#*)"'), re.compile(r"'(\\.[^']*|[^\\'])'")


def strip(text):
    """Blanks comments and string/char literals (keeping newlines, so line numbers stay right)."""
    out, i, n = [], 0, len(text)
    blank = lambda s: re.sub(r"[^\n]", " ", s)
    while i < n:
        c, nxt = text[i], text[i + 1:i + 2]
        if c == "/" and nxt == "/":                              # line comment (also /// and //!)
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif c == "/" and nxt == "*":                            # block comment, nested
            j, depth = i + 2, 1
            while j < n and depth:
                if text.startswith("/*", j): depth, j = depth + 1, j + 2
                elif text.startswith("*/", j): depth, j = depth - 1, j + 2
                else: j += 1
        elif (m := RAW.match(text, i)) and not (text[i - 1:i] or " ").isidentifier():
            end = text.find('"' + m.group(1), m.end())           # raw string r#"..."#
            j = n if end < 0 else end + 1 + len(m.group(1))
        elif c == '"':                                           # string, with escapes
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
        elif c == "'" and (m := CHAR.match(text, i)):
            j = m.end()                                          # char literal, not a lifetime
        else:
            out.append(c); i += 1; continue
        out.append(blank(text[i:j])); i = j
    return "".join(out)


def references(code):
    """Yields (module, offset) for each top-level module named through `crate::`."""
    for m in re.finditer(r"(?<![\w])crate\s*::\s*", code):
        j = m.end()
        if code[j:j + 1] != "{":
            if (ident := re.match(r"(?:r#)?(\w+)", code[j:])):
                yield ident.group(1), j
            continue
        depth, item_start = 0, True                              # `crate::{a, b::{c, d}}` group
        for k in range(j, len(code)):
            ch = code[k]
            if ch == "{": depth += 1; item_start = depth == 1; continue
            if ch == "}":
                depth -= 1
                if depth == 0: break
            elif ch == "," and depth == 1: item_start = True
            elif item_start and not ch.isspace():
                item_start = False
                if (ident := re.match(r"\w+", code[k:])) and ident.group(0) != "self":
                    yield ident.group(0), k


def analyze(root):
    """Returns (modules, edges): edges maps (from, to) to a list of 'file:line' sites."""
    src = os.path.join(root, "src")
    lib = os.path.join(src, "lib.rs")
    declared = set(re.findall(r"\bmod\s+(\w+)\s*[;{]", strip(open(lib).read()))) \
        if os.path.exists(lib) else set()
    files = {}
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            if name.endswith(".rs") and rel not in ROOT_FILES:
                files[path] = rel.split(os.sep)[0].removesuffix(".rs")
    modules = set(files.values())
    known = modules | declared
    edges, root_items = {}, {}
    for path, module in sorted(files.items()):
        code = strip(open(path, encoding="utf-8").read())
        shown = os.path.relpath(path, root)
        for target, offset in references(code):
            site = f"{shown}:{code.count(chr(10), 0, offset) + 1}"
            if target == module:
                continue
            bucket = edges.setdefault((module, target), []) if target in known else \
                root_items.setdefault(target, [])
            bucket.append(site)
    return modules, edges, root_items


def find_cycles(modules, edges):
    """The shortest cycle through each module (first module repeated last), each cycle once."""
    graph = {m: sorted({b for (a, b) in edges if a == m and b in modules}) for m in modules}
    cycles, seen = [], set()
    for start in sorted(modules):
        parent, queue = {start: None}, [start]
        for node in queue:                                       # breadth first: shortest first
            if start in graph[node]:
                cycle = [start]                                  # walk back: node ... start
                while node is not None:
                    cycle.insert(0, node); node = parent[node]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle)); cycles.append(cycle)
                break
            for nxt in graph[node]:
                if nxt not in parent:
                    parent[nxt] = node; queue.append(nxt)
    return cycles


def check(root, allowed):
    """Runs the check; returns (report lines, error lines, number of modules)."""
    modules, edges, root_items = analyze(root)
    report, errors = [], []
    sites = lambda e: ", ".join(edges[e][:3]) + (f" (+{len(edges[e]) - 3} more)" if len(edges[e]) > 3 else "")
    for m in sorted(modules):
        report.append(f"{m:14} -> {', '.join(sorted(b for (a, b) in edges if a == m)) or '(nothing)'}")
    for name, where in sorted(root_items.items()):
        report.append(f"note: crate-root item `crate::{name}` used (not checked) at {where[0]}")
    for cycle in find_cycles(modules, edges):
        errors.append("cycle: " + " -> ".join(cycle))
        errors += [f"    {a} -> {b}: {sites((a, b))}" for a, b in zip(cycle, cycle[1:])]
    for m in sorted(modules - allowed.keys()):
        errors.append(f"module `{m}` is not in ALLOWED: add it to the table in scripts/check-layers.py")
    for (a, b) in sorted(edges):
        if a in allowed and b not in allowed[a]:
            stale = "" if b in modules else f" (no src/{b}.rs or src/{b}/: a stale path?)"
            errors.append(f"not allowed: {a} -> {b}{stale} at {sites((a, b))}")
    return report, errors, len(modules)


def self_test():
    base = tempfile.TemporaryDirectory(prefix="check-layers-")
    def tree(files):
        root = tempfile.mkdtemp(dir=base.name)
        for rel, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(root, "src", rel)), exist_ok=True)
            open(os.path.join(root, "src", rel), "w").write(text)
        return root
    cyc = tree({"a.rs": "use crate::b::X;\n", "b.rs": "fn f() {\n    let y = crate::a::Y;\n}\n"})
    _, errs, _ = check(cyc, {"a": {"b"}, "b": {"a"}})
    assert errs == ["cycle: a -> b -> a", "    a -> b: src/a.rs:1", "    b -> a: src/b.rs:2"], errs
    tri = tree({"a.rs": "use crate::b::X;", "b.rs": "use crate::c::X;", "c.rs": "use crate::a::X;"})
    assert check(tri, {"a": {"b"}, "b": {"c"}, "c": {"a"}})[1][0] == "cycle: a -> b -> c -> a"
    ok = tree({"lib.rs": "pub mod a; pub mod b; pub mod c;\npub struct Root;\n",
               "a/mod.rs": 'use crate::{\n    b::x,\n    c::{d, e},\n};\n// use crate::zzz;\n'
                           '/// crate::zzz::Doc\nconst S: &str = "crate::zzz"; /* crate::zzz */\n'
                           'const R: &str = r#"crate::zzz "#; // crate::zzz\nfn f<\'a>() { crate::Root; super::q(); }\n',
               "a/inner.rs": "use crate::a::Self_; use crate::b;\n", "b.rs": "", "c.rs": "let c = '\"';\n"})
    report, errs, n = check(ok, {"a": {"b", "c"}, "b": set(), "c": set()})
    assert errs == [] and n == 3, errs
    assert report[0].split() == ["a", "->", "b,", "c"] and not any("zzz" in line for line in report), report
    assert analyze(ok)[1][("a", "c")] == ["src/a/mod.rs:3"], analyze(ok)[1]
    _, errs, _ = check(ok, {"a": {"b"}, "b": set()})
    assert errs == ["module `c` is not in ALLOWED: add it to the table in scripts/check-layers.py",
                    "not allowed: a -> c at src/a/mod.rs:3"], errs
    print("self-test ok: cycle found, allowed tree passes, comments and strings ignored, "
          "multi-line groups parsed, unlisted module and edge refused")
    base.cleanup()


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) not in (1, 3) or (len(argv) == 3 and argv[1] != "--root"):
        sys.exit(__doc__.strip().splitlines()[-1])
    root = argv[2] if len(argv) == 3 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    report, errors, modules = check(root, ALLOWED)
    print("\n".join(report + errors))
    if errors:
        problems = sum(not line.startswith(" ") for line in errors)
        sys.exit(f"layers FAILED: {problems} problem(s) (cycles, unlisted modules, edges ALLOWED does not list)")
    print(f"layers ok: {modules} modules, no cycles")


if __name__ == "__main__":
    main(sys.argv)
