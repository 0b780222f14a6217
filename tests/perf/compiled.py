"""A compiled copy of the analyzer, built like `pip install .` builds it, outside the tree.

The test suite runs against the sources (an editable install never compiles), so the
compiled modules get their own test run (tests/perf/test_compiled_build.py) and their own
benchmark figures (tests/perf/benchmark.py). Both build a copy here: compiling in the tree
would leave extensions that shadow the `.py` files being edited.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_COPIED = ("analyzer", "setup.py", "pyproject.toml", "README.md")


class BuildFailed(RuntimeError):
    """mypyc or the C compiler failed; the message holds the end of their output."""


def modules_to_compile() -> list[str]:
    """Dotted names of setup.py's COMPILED_MODULES, read without running setup.py."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "COMPILED_MODULES" for t in node.targets
        ):
            paths = ast.literal_eval(node.value)
            return sorted(p.removesuffix(".py").replace("/", ".") for p in paths)
    raise LookupError("setup.py has no COMPILED_MODULES")


def env_for_copy(**extra: str) -> dict[str, str]:
    """The environment for a Python process run with a compiled copy as working directory.

    `-m` and `-c` put the working directory first on the path, so the copy's `analyzer` is
    imported; the checkout after it provides the `tests` package."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def build_compiled_copy(dest: Path) -> Path:
    """Copy the sources into `dest` and compile them in place; `dest` goes first on the path.

    Takes about two minutes on two cores (mypyc's type check, then one large C file).
    """
    dest.mkdir(parents=True, exist_ok=True)
    for name in _COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
        cwd=dest,
        env={**os.environ, "SIOSCOPE_COMPILE": "1"},
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise BuildFailed((done.stdout + done.stderr)[-3000:])
    return dest
