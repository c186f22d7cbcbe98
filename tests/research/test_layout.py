"""How the research code is laid out: names that resolve, imports that point one way."""

from __future__ import annotations

import sparkbt as sb
import sparkbt.research
import sparkbt.research.sweep_evidence
import sparkbt.sweeps


def test_the_package_and_the_functions_have_different_names() -> None:
    # the package is sparkbt.sweeps; sb.sweep and sb.walk_forward are functions
    assert sparkbt.research.sweep_evidence.save_sweep is sparkbt.sweeps.save_sweep
    assert callable(sb.sweep) and sb.sweep is sparkbt.sweeps.sweep
    assert callable(sb.walk_forward) and sb.walk_forward is sparkbt.sweeps.walk_forward


def _sibling_imports() -> dict[str, set[str]]:
    """Module -> the modules of sparkbt.research it imports (also inside functions).

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    import ast
    from pathlib import Path

    folder = Path(sparkbt.research.__file__).parent
    names = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        tree = ast.parse((folder / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                node.body = []
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "sparkbt.research."
            ):
                found.add(node.module.split(".")[2])
        graph[name] = found & names
    return graph


def test_imports_inside_the_package_point_one_way() -> None:
    graph = _sibling_imports()
    assert "executors" not in graph["sweep_jobs"] and "sweep" not in graph["sweep_jobs"]
    assert {"sweep_jobs", "executors"} <= graph["sweep"]
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name not in done:
            for dep in sorted(graph[name]):
                visit(dep, (*path, name))
            done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_no_private_names_cross_module_boundaries() -> None:
    """Nothing in sparkbt.research imports a _name or reaches into another object's _attribute."""
    import ast
    from pathlib import Path

    bad = []
    for path in sorted(Path(sparkbt.research.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                bad += [f"{path.name}: import {a.name}" for a in node.names if a.name[0] == "_"]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                bad.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert bad == []
