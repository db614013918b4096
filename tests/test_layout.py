"""The layout shows the architecture: no import cycles, no reaching into another module's private
names, one package per family of modules, every module on the map (docs/architecture.md), and
numpydoc sections on the public API.

Everything here reads the source (``ast``), so a test also sees imports inside functions.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("forecast", "miniapp", "bot")
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``), for every module of PACKAGES."""
    out = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


MODULES = modules()


def _target(node: ast.ImportFrom, module: str, is_pkg: bool) -> str | None:
    if not node.level:
        return node.module
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(mods: dict[str, tuple[Path, bool]]) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Edges module -> modules it imports (at any depth of the file), and cross-module private imports.

    Importing ``a.b.c`` also runs ``a.b`` and ``a`` (their ``__init__``), so those are edges too,
    except from inside the package, which is already being imported.
    """
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private = []
    for mod, (path, is_pkg) in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges[mod].update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                target = _target(node, mod, is_pkg)
                if target not in mods:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    if sub in mods:
                        edges[mod].add(sub)
                        if not mod.startswith(target + "."):
                            edges[mod].add(target)
                    elif target != mod:
                        edges[mod].add(target)
                        if alias.name.startswith("_"):
                            private.append((mod, target, alias.name))
    for mod, targets in edges.items():
        for t in list(targets):
            parts = t.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in mods and parent != mod and not mod.startswith(parent + "."):
                    targets.add(parent)
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import), Tarjan's way."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_module_and_function_level_imports(tmp_path):
    """The checker itself: a cycle through a function-level import and a private import are found."""
    pkg = tmp_path / "p"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from p.b import g\n\ndef f():\n    return g()\n")
    (pkg / "b.py").write_text("def g():\n    from p.a import _h\n    return _h\n")
    mods = {"p": (pkg / "__init__.py", True), "p.a": (pkg / "a.py", False), "p.b": (pkg / "b.py", False)}
    edges, private = import_graph(mods)
    assert cycles(edges) == [["p.a", "p.b"]]
    assert private == [("p.b", "p.a", "_h")]
    (pkg / "b.py").write_text("def g():\n    return 1\n")
    edges, private = import_graph(mods)
    assert cycles(edges) == [] and private == []


def test_no_import_cycles():
    edges, _ = import_graph(MODULES)
    assert cycles(edges) == []


def test_no_module_imports_another_modules_private_names():
    _, private = import_graph(MODULES)
    assert private == []


def test_dependencies_point_one_way():
    """forecast <- miniapp <- bot: the engine imports neither; of the web app only the CLI (the
    ``alerts`` command) reaches the bot."""
    edges, _ = import_graph(MODULES)
    wrong = [f"{m} -> {t}" for m, ts in edges.items() for t in ts
             if (m.startswith("forecast") and not t.startswith("forecast"))
             or (m.startswith("miniapp") and not m.startswith("miniapp.cli") and t.startswith("bot"))]
    assert wrong == []


def test_function_level_project_imports_only_in_the_cli():
    """A reader sees the real graph at the top of a module; only the CLI defers imports (start-up time)."""
    hidden = []
    for mod, (path, _) in MODULES.items():
        if mod.startswith("miniapp.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                hidden += [f"{mod}:{node.lineno} {n}" for n in names if n.split(".")[0] in PACKAGES]
    assert hidden == []


def test_no_two_modules_of_a_package_share_a_family_prefix():
    """``x_a.py`` and ``x_b.py`` side by side are a family: it belongs in a package ``x/``."""
    families = []
    for pkg in sorted({p.parent for p, is_pkg in MODULES.values() if is_pkg}):
        names = [p.stem for p in pkg.glob("*.py") if p.stem != "__init__"]
        names += [d.name for d in pkg.iterdir() if (d / "__init__.py").is_file()]
        prefixes = Counter(n.split("_")[0] for n in names)
        families += [f"{pkg.relative_to(ROOT)}: {sorted(n for n in names if n.split('_')[0] == k)}"
                     for k, v in prefixes.items() if v > 1]
    assert families == []


def architecture_rows(text: str) -> dict[str, str]:
    """Package -> its row of the module tables: ``| `forecast.contacts` | `index`, `arrays` ... | job |``."""
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z_.]+)` \|.*$", text, re.M)}


def test_every_module_is_on_the_map():
    rows = architecture_rows(ARCHITECTURE.read_text(encoding="utf-8"))
    missing = []
    for mod, (_, is_pkg) in MODULES.items():
        package, _, name = mod.rpartition(".")
        if is_pkg:
            missing += [] if mod in rows else [f"package {mod}"]
        elif f"`{name}`" not in rows.get(package, ""):
            missing.append(mod)
    assert missing == []


def test_the_map_check_fails_on_a_missing_module():
    rows = architecture_rows("| `forecast.stays` | `detect`, `scan` | stays |\n")
    assert "`border`" not in rows["forecast.stays"] and "`scan`" in rows["forecast.stays"]


def public_functions() -> list[tuple[str, ast.FunctionDef]]:
    """The public API: functions a package names in ``__all__``, and every public top-level function
    of a module directly in ``forecast/`` (the engine's own modules)."""
    out = []
    for mod, (path, is_pkg) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if is_pkg:
            exported = set()
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                    exported = set(ast.literal_eval(node.value))
            for node in tree.body:
                if isinstance(node, ast.ImportFrom) and node.module in MODULES:
                    for alias in node.names:
                        if alias.name in exported:
                            out += _function(node.module, alias.name)
            out += [(mod, n) for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in exported]
        elif mod.count(".") == 1 and mod.startswith("forecast."):
            out += [(mod, n) for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    return sorted({(m, f.name): (m, f) for m, f in out}.values(), key=lambda x: (x[0], x[1].name))


def _function(module: str, name: str) -> list[tuple[str, ast.FunctionDef]]:
    path, _ = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(module, n) for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]


def missing_sections(fn: ast.FunctionDef) -> list[str]:
    doc = ast.get_docstring(fn) or ""
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs]
    returns_none = isinstance(fn.returns, ast.Constant) and fn.returns.value is None
    want = []
    if params and not re.search(r"^Parameters\n-{10}", doc, re.M):
        want.append("Parameters")
    if not returns_none and not re.search(r"^(Returns|Yields)\n-{5,}", doc, re.M):
        want.append("Returns")
    if not re.search(r"^Examples\n-{8}", doc, re.M) and not doc:
        want.append("docstring")
    return want


def test_public_functions_have_numpydoc_parameters_and_returns():
    gaps = [f"{mod}.{fn.name}: {', '.join(m)}" for mod, fn in public_functions() if (m := missing_sections(fn))]
    assert gaps == []


def test_the_numpydoc_check_fails_on_a_bare_docstring():
    fn = ast.parse('def f(x):\n    """Do it."""\n    return x\n').body[0]
    assert missing_sections(fn) == ["Parameters", "Returns"]
    good = ast.parse('def f(x) -> None:\n    """Do it.\n\n    Parameters\n    ----------\n    x : int\n    """\n').body[0]
    assert missing_sections(good) == []


def test_packages_are_found_not_listed():
    """pyproject.toml lists no packages; setup.py finds every package of the source tree."""
    assert not re.search(r"^packages\s*=", (ROOT / "pyproject.toml").read_text(encoding="utf-8"), re.M)
    setup_py = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert "find_packages(" in setup_py
    packages = {m for m, (_, is_pkg) in MODULES.items() if is_pkg}
    from setuptools import find_packages

    found = set(find_packages(str(ROOT), include=["forecast", "forecast.*", "miniapp", "miniapp.*", "bot", "bot.*"]))
    assert found == packages
