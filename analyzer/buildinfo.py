"""Which of the analyzer's modules run compiled (mypyc) rather than as Python source.

An install compiles the hot modules when it can (setup.py) and falls back to the source
when it cannot; the two decode identically, only the speed differs. Benchmarks and bug
reports need to know which one ran.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

_PACKAGE_ROOT = Path(__file__).resolve().parent


def compiled_modules() -> list[str]:
    """Dotted names of the modules installed as extensions, sorted.

    Python prefers an extension to a `.py` of the same name in one directory, so these are
    the modules that run compiled.
    """
    suffixes = sorted(EXTENSION_SUFFIXES, key=len, reverse=True)  # ".cpython-...so" before ".so"
    names = set()
    for path in _PACKAGE_ROOT.rglob("*"):
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)
        if suffix is not None:
            relative = path.relative_to(_PACKAGE_ROOT.parent).as_posix()
            names.add(relative.removesuffix(suffix).replace("/", "."))
    return sorted(names)


def build_description() -> str:
    """'pure Python' or 'compiled: N modules', for --version and the benchmark."""
    compiled = compiled_modules()
    return f"compiled: {len(compiled)} modules" if compiled else "pure Python"
