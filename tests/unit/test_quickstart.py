"""The README's quick start: two lines, the second is what .ci/run runs, the sample is real.

Before: three commands (install, demo, tests), a .ci/run that did not run
the README's line, and a sample output ending with a ``wall`` line the demo
never printed.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP = "python -m pip install -e '.[dev]'"


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end]


def quick_start() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section("Set up, run, test"), flags=re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def script_lines() -> list[str]:
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_quick_start_is_two_lines_each_with_its_set_up():
    lines = quick_start()
    assert lines == [f"{SETUP} && python run.py demo", f"{SETUP} && python -m pytest"]


def test_ci_runs_the_readme_test_line_after_ruff_and_mypy():
    lines = script_lines()
    test_line = quick_start()[1]
    assert lines[-1] == test_line
    assert "set -euo pipefail" in lines
    for step in ("ruff check .", "mypy", "export PREOPEN_REQUIRE_POSTGRES=1"):
        assert lines.index(step) < len(lines) - 1


@pytest.mark.parametrize(("failing", "code"), [("pytest", 3), ("ruff", 4), ("mypy", 5)])
def test_ci_stops_with_the_failing_step_code(tmp_path: Path, failing, code):
    """Run .ci/run with stand-ins for python, ruff and mypy that log their calls."""
    (tmp_path / ".ci").mkdir()
    script = tmp_path / ".ci" / "run"
    script.write_bytes((ROOT / ".ci" / "run").read_bytes())
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    codes = {"pytest": 0, "ruff": 0, "mypy": 0, failing: code}
    stand_in = (
        "#!/bin/sh\n"
        f'echo "$(basename "$0") $* require=${{PREOPEN_REQUIRE_POSTGRES:-}}" >> {log}\n'
        'case "$(basename "$0") $*" in\n'
        f'  "python -m pytest"*) exit {codes["pytest"]};;\n'
        f'  ruff*) exit {codes["ruff"]};;\n'
        f'  mypy*) exit {codes["mypy"]};;\n'
        "esac\n"
        "exit 0\n"
    )
    for name in ("python", "ruff", "mypy"):
        path = bin_dir / name
        path.write_text(stand_in)
        path.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("PREOPEN_REQUIRE_POSTGRES", None)
    proc = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == code
    calls = log.read_text().splitlines()
    expected = [
        "python -m pip install --quiet --disable-pip-version-check -e .[dev] require=",
        "ruff check . require=",
        "mypy  require=",
        "python -m pip install -e .[dev] require=1",
        "python -m pytest require=1",
    ]
    stop = {"ruff": 2, "mypy": 3, "pytest": 5}[failing]
    assert calls == expected[:stop]


def normalised(text: str) -> str:
    """The words of an output, without figures, spacing, wrapping and rules."""
    return re.sub(r"[\d\s,.:\u2500-\u257f]", "", text)


def test_the_readme_sample_output_is_what_the_demo_prints(tmp_path: Path):
    sample = re.search(r"```text\n\$ python run\.py demo\n(.*?)```", section("The demo"),
                       flags=re.DOTALL)
    assert sample is not None
    env = {**os.environ, "COLUMNS": "80"}
    for name in [n for n in env if n.startswith("PREOPEN_") and n != "PREOPEN_TEST_DSN"]:
        del env[name]
    proc = subprocess.run([sys.executable, str(ROOT / "run.py"), "demo", "--symbols", "3"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert normalised(proc.stdout) == normalised(sample.group(1))
    assert "wall" not in sample.group(1)
