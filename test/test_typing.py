"""Static checks: mypy --strict on the package and a user's script, ruff on the repository."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USER_SCRIPT = Path(__file__).resolve().parent / "typecheck" / "user_script.py"


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(("-p", "litepolis_client"), id="package"),
        pytest.param((str(USER_SCRIPT),), id="user-script"),
    ],
)
def test_mypy_strict_passes(target):
    # --no-incremental: a cache written by another mypy version or run must
    # not hide errors.
    result = run(sys.executable, "-m", "mypy", "--strict", "--no-incremental", *target)

    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_passes():
    result = run(sys.executable, "-m", "ruff", "check", ".")

    assert result.returncode == 0, result.stdout + result.stderr
