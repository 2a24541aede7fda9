"""The package's shape: one-way layers, no import cycles, imports at the top, every subpackage installed.

The import graph is read from the source (AST), so the test sees exactly what a reviewer
drawing the graph would see, without importing anything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"s2n_theory": ROOT / "s2n_theory", "s2n_theory.verification": ROOT / "verification"}

LAYERS = [
    # foundations: know nothing about schedules or the theory
    {"errors", "symbols", "arrays", "time_limit", "expressions", "quadrature", "codegen", "files", "plotting",
     "symbolic_memo"},
    # schedules
    {"schedule", "builtin_schedules", "schedule_spec"},
    # the theory's derivations (and the one place a schedule becomes numbers)
    {"forward", "numeric_schedule", "inference", "backward", "cv_model", "snspace", "information", "distributions",
     "objectives", "recipes", "multistep",
     "distribution_spec", "gaussian_mixture"},
    # numerics built on the derivations
    {"interop", "sampling", "metrics", "digits", "named_mixtures"},
    # claims, figures, sweeps
    {"verification", "figures", "sweep"},
    # the command line
    {"cli"},
]

HEAVY_OPTIONAL = {"jax", "dask", "distributed", "sklearn", "matplotlib", "tqdm", "diffusers", "torchsde", "PIL"}
"""Third-party packages that may be imported inside a function (optional or slow to import)."""


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in folder.rglob("*.py"):
            if package == "s2n_theory" and path.is_relative_to(PACKAGE_DIRS["s2n_theory.verification"]):
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    target = node.module or ""
    full = f"{base}.{target}".strip(".") if node.level else target
    # "from pkg import submodule" imports the submodule
    return [f"{full}.{alias.name}" if f"{full}.{alias.name}" in MODULES else full for alias in node.names]


def _imports(module: str) -> tuple[set[str], list[tuple[int, str]]]:
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    top, nested = set(), []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        names = _resolve(module, node, is_package)
        in_function = (node not in tree.body and not _under_type_checking(tree, node)
                       and not _in_module_try(tree, node))
        for name in names:
            if in_function:
                nested.append((node.lineno, name))
            elif name.startswith("s2n_theory"):
                top.add(name)
    return top, nested


def _in_module_try(tree: ast.Module, node: ast.AST) -> bool:
    """In the body of a module-level ``try`` (the package pauses the collector around its imports): still a
    top-level import, run once when the module loads."""
    return any(isinstance(stmt, ast.Try) and node in stmt.body for stmt in tree.body)


def _under_type_checking(tree: ast.Module, node: ast.AST) -> bool:
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            if any(child is node for child in ast.walk(stmt)):
                return True
    return False


def _internal(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> int:
    first = module.split(".")[1] if module.count(".") else "__init__"
    for index, names in enumerate(LAYERS):
        if first in names:
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_layout.py: place it")


GRAPH = {m: {t for t in (_internal(n) for n in _imports(m)[0]) if t and t != m} for m in MODULES}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "s2n_theory"))
def test_imports_point_down_the_layers(module: str) -> None:
    upward = [t for t in GRAPH[module] if t != "s2n_theory" and _layer(t) > _layer(module)]
    assert not upward, f"{module} (layer {_layer(module)}) imports a higher layer: {sorted(upward)}"


def test_no_import_cycles() -> None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_package_modules_are_imported_at_the_top() -> None:
    hidden = []
    for module in MODULES:
        for line, name in _imports(module)[1]:
            if name.startswith("s2n_theory") or name.split(".")[0] not in HEAVY_OPTIONAL | {"__future__"}:
                hidden.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {name} inside a function")
    assert not hidden, "\n".join(hidden)


def test_modules_hold_one_job_each_by_size() -> None:
    large = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 600}
    assert not large, f"modules over 600 lines: {large}"


def test_every_subpackage_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages == listed, f"pyproject.toml packages differ from the tree: {sorted(packages ^ listed)}"
    assert config["package-dir"]["s2n_theory.verification"] == "verification"


def test_importing_the_package_leaves_the_collector_as_it_found_it() -> None:
    """The package pauses the cyclic collector while it imports (s2n_theory/__init__.py): enabled stays enabled,
    and a caller that disabled it finds it still disabled."""
    for before in ("enable", "disable"):
        code = f"import gc; gc.{before}(); import s2n_theory; print(gc.isenabled())"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        assert out.stdout.strip() == str(before == "enable")
    # What a caller froze on purpose (a pre-fork server) stays frozen.
    code = ("import gc; gc.freeze(); n = gc.get_freeze_count(); import s2n_theory; "
            "print(n > 0 and gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "True"
