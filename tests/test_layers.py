"""The crate's layers (declared once, in the table of src/lib.rs's crate
docs): no module refers to a module of a higher layer, and no cycle of
references exists among modules.  The checker is also run on small made-up
trees, to show that it fails on an upward reference and on a cycle."""
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

# `//! | 3 state | `state::settings`, `state::ctx` | ... |`
_ROW = re.compile(r"^//!\s*\|\s*(\d+)\s+\w+\s*\|(?P<mods>[^|]*)\|")
_REF = re.compile(r"\$?crate::(\{[^}]*\}|[A-Za-z_]\w*(?:::\w+)*(?:::\{[^}]*\})?)(!?)")
_MACRO = re.compile(r"#\[macro_export\]\s*macro_rules!\s*(\w+)")


def declared_layers(lib_rs: str):
    """{module path: layer number} from the table of the crate docs."""
    layers = {}
    for line in lib_rs.splitlines():
        m = _ROW.match(line)
        if m:
            for mod in re.findall(r"`([\w:]+)`", m.group("mods")):
                layers[mod] = int(m.group(1))
    return layers


def module_of(rel: str) -> str:
    """`func/call.rs` -> `func::call`; `func/mod.rs` -> `func`."""
    parts = rel[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    return "::".join(parts)


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def _expand(path: str):
    """`a::{b, c::d}` -> [`a::b`, `a::c::d`] (one level of braces)."""
    m = re.match(r"^(.*?)\{(.*)\}$", path)
    if not m:
        return [path]
    head = m.group(1)
    return [head + item.strip() for item in m.group(2).split(",") if item.strip()]


def references(files, modules):
    """{module: set of modules it refers to} (through `crate::` paths, `use`
    groups and exported macros)."""
    macros = {}
    for rel, text in files.items():
        for name in _MACRO.findall(text):
            macros[name] = module_of(rel)
    refs = {}
    for rel, text in files.items():
        me = module_of(rel)
        if me not in modules:
            continue
        found = set()
        for m in _REF.finditer(_strip_comments(text)):
            target, bang = m.group(1), m.group(2)
            if bang and "::" not in target:
                target = macros.get(target, target)
            for path in _expand(target):
                parts = path.split("::")
                # The longest declared module that the path starts with.
                for n in range(len(parts), 0, -1):
                    cand = "::".join(parts[:n])
                    if cand in modules:
                        if cand != me:
                            found.add(cand)
                        break
                else:
                    if parts[0] in macros:
                        found.add(macros[parts[0]])
        refs[me] = found
    return refs


def check(files):
    """Problems in a tree given as {path under src/: text}."""
    layers = declared_layers(files["lib.rs"])
    problems = []
    for rel in files:
        mod = module_of(rel)
        if rel != "lib.rs" and not rel.endswith("mod.rs") and mod not in layers:
            problems.append(f"{rel}: module {mod} is in no layer of the table in src/lib.rs")
    for mod in layers:
        if not any(module_of(rel) == mod for rel in files):
            problems.append(f"the table in src/lib.rs names {mod}, which has no file")
    refs = references(files, layers)
    for mod, targets in sorted(refs.items()):
        for t in sorted(targets):
            if layers[t] > layers[mod]:
                problems.append(f"{mod} (layer {layers[mod]}) refers to {t} (layer {layers[t]}, higher)")
    # Cycles: depth-first search, reporting each cycle found once.
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(refs.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(refs):
        if m not in state:
            visit(m)
    problems += ["cycle: " + " -> ".join(c) for c in cycles]
    return problems


def read_tree(root: Path):
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*.rs")}


def test_the_crate_keeps_its_layers():
    assert check(read_tree(SRC)) == []


def test_every_module_is_in_the_table_and_the_readme():
    layers = declared_layers((SRC / "lib.rs").read_text())
    assert len(layers) >= 15
    readme = (SRC.parent / "README.md").read_text()
    missing = [m for m in layers if f"src/{m.replace('::', '/')}.rs" not in readme]
    assert missing == [], "modules missing from the README layout table"


LIB = """//! | layer | modules | what |
//! |---|---|---|
//! | 0 low | `low` | x |
//! | 1 mid | `mid::a`, `mid::b` | y |
//! | 2 top | `top` | z |
"""


@pytest.mark.parametrize("files, expected", [
    ({"lib.rs": LIB, "low.rs": "", "mid/mod.rs": "", "mid/a.rs": "use crate::low::X;",
      "mid/b.rs": "use crate::mid::a::Y;", "top.rs": "use crate::{mid::b, low};"}, []),
    ({"lib.rs": LIB, "low.rs": "fn f() { crate::top::g() }", "mid/mod.rs": "", "mid/a.rs": "",
      "mid/b.rs": "", "top.rs": ""}, ["low (layer 0) refers to top (layer 2, higher)"]),
    ({"lib.rs": LIB, "low.rs": "", "mid/mod.rs": "", "mid/a.rs": "use crate::mid::b::Z;",
      "mid/b.rs": "use crate::mid::{a::Y};", "top.rs": ""}, ["cycle: mid::a -> mid::b -> mid::a"]),
    ({"lib.rs": LIB, "low.rs": "let x = crate::go!(1);", "mid/mod.rs": "", "mid/a.rs": "",
      "mid/b.rs": "", "top.rs": "#[macro_export]\nmacro_rules! go { () => {} }"},
     ["low (layer 0) refers to top (layer 2, higher)"]),
    ({"lib.rs": LIB, "low.rs": "// crate::top::x in a comment does not count", "mid/mod.rs": "",
      "mid/a.rs": "", "mid/b.rs": "", "top.rs": "", "extra.rs": ""},
     ["extra.rs: module extra is in no layer of the table in src/lib.rs"]),
])
def test_the_checker_fails_on_upward_references_and_cycles(files, expected):
    assert check(files) == expected
