"""The structure the code keeps: no import cycle, task and mode knowledge in their packages,
small modules. These read the source; they import nothing heavy."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hfft"
MAX_LINES = 400
# Task names and modality column names belong to hfft/tasks/ (and the Space's interface table).
TASK_LITERALS = (
    *("audio", "image", "text", "tokens"),
    *("audio-classification", "image-classification", "text-classification"),
    "token-classification",
)
MODE_LITERALS = ("full", "frozen", "lora", "peft", "lp-ft")


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the hfft package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        # hfft/metrics/<name>/<name>.py are evaluate scripts loaded by path, not modules
        if len(parts) == 4 and parts[1] == "metrics":
            continue
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """hfft modules `name` imports, at any level: lazy imports inside functions and imports under
    `if TYPE_CHECKING:` count too (a cycle through annotations is still a knot in the design)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_hfft_modules():
    mods = modules()
    known = set(mods)
    # A package's __init__ importing its submodules counts too: importing hfft.tasks runs
    # them, so a submodule that (even lazily) reaches back to hfft.tasks closes a real cycle.
    graph = {name: imports_of(name, path, known) for name, path in mods.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string constant in the module, docstrings excluded."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


# A line may name a `datasets` builder that shares a modality's name (the `text` builder reads
# .txt files): it says so with this comment, and is not task knowledge.
BUILDER_NOTE = "# datasets builder"


def literal_offenders(literals: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
    out = []
    for name, path in modules().items():
        if name.startswith(allowed):
            continue
        lines = path.read_text().splitlines()
        for line, value in string_literals(path):
            if value in literals and BUILDER_NOTE not in lines[line - 1]:
                out.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    return out


def test_task_literals_live_in_the_tasks_package():
    offenders = literal_offenders(TASK_LITERALS, ("hfft.tasks",))
    assert not offenders, "task knowledge outside hfft/tasks/:\n" + "\n".join(offenders)


def test_mode_literals_live_in_the_modes_package():
    offenders = literal_offenders(MODE_LITERALS, ("hfft.modes",))
    assert not offenders, "mode knowledge outside hfft/modes/:\n" + "\n".join(offenders)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_small(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines (> {MAX_LINES}): split it by job"


def test_space_app_imports_nothing_from_hfft():
    for path in (ROOT / "space").glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+hfft\b", path.read_text(), re.M), path
