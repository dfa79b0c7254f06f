"""The shape of the code: no import circle inside the toolkit's packages, no module importing
another module's private name, and ``import theory`` never importing torch.

Imports are read from the source (ast), function-local ones included: a circle hidden inside a
function still ties the two modules together. A private name is one with a single leading
underscore; dunder names (``__all__``) are public.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("theory", "simulate", "figures", "snn_bridge")
MODULES = ("snn_validation.py", "paper_figs.py")


def _modules() -> dict:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "out" in path.relative_to(ROOT).parts:       # committed scripts of a gallery run
                continue
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    for name in MODULES:
        found[name.removesuffix(".py")] = ROOT / name
    return found


def _base(name: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module
    parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def _imports(modules: dict):
    """(graph: module -> modules it imports, private: (importer, source, name) triples)."""
    graph, private = {}, []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        deps, aliases = set(), {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _base(name, path, node)
                # "from pkg import sub" runs pkg/__init__ too: an edge to pkg as well as to pkg.sub
                # (theory.chains.spike_count's "from theory import inits" closed a circle that way)
                deps.add(base)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    if full in modules:
                        deps.add(full)
                        aliases[alias.asname or alias.name] = full
                        continue
                    if alias.name.startswith("_") and not alias.name.startswith("__") and base != name:
                        private.append((name, base, alias.name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    deps.add(alias.name)
                    if alias.asname:
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] in modules and aliases[node.value.id] != name):
                private.append((name, aliases[node.value.id], node.attr))
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph, private


def _circles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(root):
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_circle():
    graph, _ = _imports(_modules())
    assert _circles(graph) == []


def test_no_module_imports_another_modules_private_name():
    _, private = _imports(_modules())
    assert private == []


def test_the_checks_see_a_circle_and_a_private_import(tmp_path):
    """The two checks can fail: a planted circle and a planted private import are found."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import _hidden\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n_hidden = 1\n")
    modules = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.b": pkg / "b.py"}
    graph, private = _imports(modules)
    assert _circles(graph) == [["pkg.a", "pkg.b"]]
    assert private == [("pkg.a", "pkg.b", "_hidden")]
    # through the package's __init__: it imports c, and c imports a name of the package
    (pkg / "__init__.py").write_text("from pkg.c import x\n")
    (pkg / "c.py").write_text("from pkg import b\nx = 1\n")
    graph, _ = _imports({**modules, "pkg.c": pkg / "c.py"})
    assert any({"pkg", "pkg.c"} <= set(c) for c in _circles(graph))


@pytest.mark.parametrize("package", ["theory", "simulate", "figures"])
def test_importing_the_core_packages_never_imports_torch(package):
    code = f"import sys, {package}; print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"
