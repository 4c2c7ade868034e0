"""Every door opens one way: the engine, then the service's core, then the HTTP API and the worker side by side,
then the entry points over both (DESIGN.md, "Rooms"). Read from the source, so a new import that runs the wrong
way fails here before it makes a circle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# room -> the rooms it may import from (itself included)
ALLOWED = {
    "synth": {"synth"},
    "app.core": {"synth", "app.core"},
    "app": {"synth", "app.core", "app"},
    "app.api": {"synth", "app.core", "app", "app.api"},
    "worker": {"synth", "app.core", "app", "worker"},
    "synthd": {"synth", "app.core", "app", "app.api", "worker", "synthd"},
}


def _room(module: str) -> str | None:
    for room in ("app.core", "app.api", "synthd", "synth", "worker", "app"):
        if module == room or module.startswith(room + "."):
            return room
    return None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def test_no_import_runs_against_the_rooms():
    wrong = []
    for package in ("synth", "app", "worker", "synthd"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            here = _room(module)
            for line, name in _imports(path):
                there = _room(name)
                if there is not None and there not in ALLOWED[here]:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {name} ({there})")
    assert not wrong, "\n".join(wrong)


def test_the_rooms_cover_every_package():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages - {"tests", "bench", "migrations"} == {"synth", "app", "worker", "synthd"}
