"""The layers point one way and nothing imports in a cycle, function-level imports included.

Every ``import`` and ``from ... import`` statement anywhere in a module (inside
functions too) is read from the source with :mod:`ast`, so a hidden
``from mrlinreg.driver import ...`` inside a job method fails here.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mrlinreg"

#: Layer of each top-level part of the package; a module may import only parts
#: of a lower layer, or modules of its own part.  jobs and storage sit side by side.
LAYERS = {
    "compat": 0, "errors": 0, "codec": 0, "parsing": 0, "kernels": 0, "numerics": 0,
    "records": 0, "options": 0, "schema": 0, "resources": 0, "fsutil": 0, "datagen": 0,
    "sparkboot": 0, "chunks": 0, "columnar": 0, "partition_filter": 0, "formula": 0,
    "design": 0,
    "jobs": 1, "storage": 1, "fs": 1, "config": 1,
    "driver": 2,
    "cli": 3, "cluster": 3,
}
#: Parts of one layer that must not import each other.
APART = {frozenset({"jobs", "storage"}), frozenset({"jobs", "fs"}), frozenset({"jobs", "config"})}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, own=None):
    """Every mrlinreg module ``path`` imports, anywhere in its body."""
    tree = ast.parse(path.read_text(), str(path))
    own = own or module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = own.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            for alias in node.names:  # `from mrlinreg import kernels` imports a module
                yield f"{mod}.{alias.name}"


def part_of(module: str):
    parts = module.split(".")
    if parts[0] != "mrlinreg" or len(parts) < 2:
        return None
    return parts[1]


def graph():
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for imp in imported_modules(path):
            while imp and imp not in modules:  # `mrlinreg.numerics.exact.solve_r` -> module
                imp = imp.rpartition(".")[0]
            if imp and imp != name:
                targets.add(imp)
        edges[name] = targets
    return edges


EDGES = graph()


def test_every_part_has_a_layer():
    parts = {part_of(m) for m in EDGES} - {None}
    assert parts <= set(LAYERS), f"give these a layer: {sorted(parts - set(LAYERS))}"


@pytest.mark.parametrize("module", sorted(EDGES))
def test_imports_point_down(module):
    src = part_of(module)
    if src is None:
        return
    for target in EDGES[module]:
        dst = part_of(target)
        if dst is None or dst == src:
            continue
        assert LAYERS[dst] <= LAYERS[src], (
            f"{module} (layer {LAYERS[src]}) imports {target} (layer {LAYERS[dst]})")
        assert frozenset({src, dst}) not in APART, f"{module} imports {target}"


def test_no_import_cycle():
    # the package's own __init__ imports compat only; it is the root of every module
    edges = {m: {t for t in ts if t != "mrlinreg"} for m, ts in EDGES.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == "open":
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_job_modules_never_reach_the_driver():
    seen, todo = set(), ["mrlinreg.jobs.linreg_pass", "mrlinreg.jobs.predict"]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo += EDGES.get(m, ())
    reached = {part_of(m) for m in seen}
    assert not reached & {"driver", "cli", "storage", "cluster", "config", "fs"}, reached


def test_the_checker_sees_function_level_imports(tmp_path):
    fake = tmp_path / "m.py"
    fake.write_text("def f():\n    from mrlinreg.driver import train\n"
                    "    from ..storage import factory\n")
    found = set(imported_modules(fake, own="mrlinreg.jobs.m"))
    assert {"mrlinreg.driver", "mrlinreg.driver.train", "mrlinreg.storage.factory"} <= found
