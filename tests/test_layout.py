"""The house rules of the layout (README, "How the code is laid out"), read from the source:
subpackages import only from their own floor or below, the import graph has no cycles,
`config.py` does not import jax, ConfigError is raised only in config.py and the plan step, and
no error below the command lines names a `--flag`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "stylejax"
# Floors, lowest first: a module may import from its own floor or a lower one.
FLOORS = {
    "samples": 0,
    "files": 0,
    "model": 1,
    "objective": 2,
    "optim": 3,
    "config": 4,
    "engine": 5,
    "video": 6,
    "api": 6,
    "cli": 7,
    "studio": 7,
    "run": 8,
    "serve": 8,
    # The video command line lives in video/ but sits at the command lines' floor.
    "video.main": 7,
    "video.__main__": 8,
}
# The command lines: the only places where settings are named by their flags.
COMMAND_LINES = ("cli", "studio/serve.py", "run.py", "serve.py", "video/main.py")


def modules() -> dict[str, Path]:
    """{dotted name: path} of every module in the package but its lazy `__init__`."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts)
        if name != "stylejax.__init__":
            found[name.removesuffix(".__init__")] = path
    return found


def imports(path: Path) -> set[str]:
    """The stylejax modules `path` imports (at any depth of the file)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.startswith("stylejax")}


def floor(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) > 2 and ".".join(parts[1:3]) in FLOORS:
        return FLOORS[".".join(parts[1:3])]
    return FLOORS.get(parts[1]) if len(parts) > 1 else None


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: {i for i in imports(path) if i in found} for name, path in found.items()}


def test_every_module_has_a_floor(graph):
    assert [m for m in graph if floor(m) is None] == []


def test_no_module_imports_from_a_floor_above_its_own(graph):
    upward = [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if floor(target) > floor(module)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycles(graph):
    done, active = set(), []

    def visit(module):
        if module in active:
            pytest.fail("import cycle: " + " -> ".join(active[active.index(module) :] + [module]))
        if module in done:
            return
        active.append(module)
        for target in sorted(graph[module]):
            visit(target)
        active.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_config_does_not_import_jax():
    tree = ast.parse((PACKAGE / "config.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [name for name in imported if name and name.split(".")[0] in ("jax", "jaxlib")]


def raised(path: Path, name: str) -> list[int]:
    """Lines of `path` that raise `name`."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and isinstance(node.exc.func, ast.Name)
        and node.exc.func.id == name
    ]


def test_config_errors_are_raised_only_in_config_and_the_plan_step():
    allowed = {PACKAGE / "config.py", PACKAGE / "engine" / "plan.py"}
    elsewhere = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if path not in allowed and (lines := raised(path, "ConfigError"))
    }
    assert elsewhere == {}


def test_no_error_below_the_command_lines_names_a_flag():
    flag = re.compile(r"(?<![\w-])--[a-z][a-z-]+")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = str(path.relative_to(PACKAGE))
        if relative.startswith(COMMAND_LINES):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for part in ast.walk(node.exc):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        if flag.search(part.value):
                            offenders.append(f"{relative}:{node.lineno}: {part.value!r}")
    assert offenders == []
