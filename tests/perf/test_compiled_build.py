"""The compiled build (mypyc, what `pip install .` makes) decodes exactly like the sources.

The rest of the suite runs against the `.py` files of the editable install. Compiled code
has differed from CPython before (a bytes slice to -1 raised SystemError in compiled
engineio), so the suite runs once more here, against a compiled copy of the analyzer.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.perf.compiled import (
    REPO,
    BuildFailed,
    build_compiled_copy,
    env_for_copy,
    modules_to_compile,
)

pytest.importorskip("mypyc", reason="mypyc (part of mypy) is not installed")
_CC = (sysconfig.get_config_var("CC") or "cc").split()[0]
pytestmark = pytest.mark.skipif(shutil.which(_CC) is None, reason=f"no C compiler ({_CC})")

# Not run again: the TUI (it only consumes the analyzer's records) and this file itself.
_NOT_AGAIN = ("tests/tui", "tests/perf/test_compiled_build.py")


@pytest.fixture(scope="module")
def compiled_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_compiled_copy(tmp_path_factory.mktemp("compiled"))
    except BuildFailed as exc:
        pytest.fail(f"the compiled build failed:\n{exc}")


def _env() -> dict[str, str]:
    return env_for_copy(SIOSCOPE_EXPECT_COMPILED="1")


def test_every_listed_module_runs_compiled(compiled_copy: Path) -> None:
    probe = "import json, analyzer.buildinfo as b; print(json.dumps(b.compiled_modules()))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=compiled_copy,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout) == modules_to_compile()


def test_the_suite_passes_against_the_compiled_modules(compiled_copy: Path) -> None:
    ignored = [f"--ignore={REPO / path}" for path in _NOT_AGAIN]
    pytest_argv = ["-m", "pytest", "-q", "-p", "no:cacheprovider", *ignored, str(REPO / "tests")]
    done = subprocess.run(
        [sys.executable, *pytest_argv],
        cwd=compiled_copy,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
