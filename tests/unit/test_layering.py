"""The dependency direction: calendar, model <- store <- planning <- actors <- runtime <- cli.

A module may import preopen modules of its own layer or a lower one, never a
higher one; calendar, model and planning (the scheduler's plain decisions)
import no actor library and no database driver;
no module imports another package's private module (``preopen.x._y``): it
imports from that package's ``__init__`` (examples and run.py included).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "preopen"

# Layer of each part of preopen, lowest first. errors/settings/clock sit where
# everything may use them (settings checks values against calendar and model);
# storeurl, the one store URL check, sits below both settings and store. The
# runtime's private helpers (argument checks, requests, lifecycle, the asyncio
# bridge) and the asyncio face sit with the runtime.
LAYER = {
    "errors": 0, "backoff": 0, "symbols": 0, "storeurl": 0, "calendar": 1, "model": 1, "shard": 1,
    "settings": 2, "clock": 2, "status": 2, "store": 3, "planning": 4, "actors": 5,
    "runtime": 6, "hub": 6,
    "_checks": 6, "_requests": 6, "_lifecycle": 6, "_loopbridge": 6, "aio": 6, "eventqueue": 6,
    "cli": 7,
}
ROOT = PACKAGE.parent
FORBIDDEN_IN_CORE = ("pykka", "psycopg", "psycopg_pool", "sqlite3")


def part_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "preopen" or len(parts) < 2:
        return None
    return parts[1]


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts), path


@pytest.mark.parametrize(("module", "path"), list(modules()), ids=str)
def test_imports_only_go_down(module, path):
    mine = part_of(module)
    if mine not in LAYER:
        return  # preopen/__init__.py: the lazy public API names every part
    for name in imports(path):
        other = part_of(name)
        if other in LAYER:
            assert LAYER[other] <= LAYER[mine], f"{module} imports {name} (a higher layer)"
        if mine in ("calendar", "model", "planning"):
            assert name.split(".")[0] not in FORBIDDEN_IN_CORE, f"{module} imports {name}"


def private_of_another(module: str, name: str) -> bool:
    """Whether ``name`` is a private module of a package other than ``module``'s."""
    parts = name.split(".")
    if parts[0] != "preopen":
        return False
    private = next((i for i, p in enumerate(parts) if p.startswith("_")), None)
    if private is None:
        return False
    owner = ".".join(parts[:private])  # the package the private module belongs to
    return not (module == owner or module.startswith(owner + "."))


def every_python_file():
    yield from modules()
    for path in sorted((ROOT / "examples").glob("*.py")):
        yield f"examples.{path.stem}", path
    if (ROOT / "run.py").exists():
        yield "run", ROOT / "run.py"


@pytest.mark.parametrize(("module", "path"), list(every_python_file()), ids=str)
def test_no_private_module_of_another_package_is_imported(module, path):
    for name in imports(path):
        assert not private_of_another(module, name), f"{module} imports {name}"


def test_the_private_import_check_can_fail():
    assert private_of_another("preopen.runtime", "preopen.actors._tree")
    assert private_of_another("preopen.cli._serve", "preopen.store._retry")
    assert private_of_another("examples.host", "preopen.model._bars")
    assert not private_of_another("preopen.store._postgres", "preopen.store._retry")
    assert not private_of_another("preopen.runtime", "preopen.actors.tree")


def test_clock_and_status_load_no_actor_library_in_a_fresh_process():
    code = ("import sys, preopen.clock, preopen.status, preopen.backoff, preopen.symbols; "
            "print('pykka' in sys.modules)")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("package", ["preopen.calendar", "preopen.model", "preopen.planning"])
def test_core_packages_load_no_actor_or_driver_in_a_fresh_process(package):
    code = (
        f"import sys, {package}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{FORBIDDEN_IN_CORE!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_layer_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from preopen.runtime import Runtime\nimport pykka\n")
    assert [part_of(n) for n in imports(bad)] == ["runtime", None]
