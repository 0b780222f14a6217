"""The committed real captures and their truth files, as pytest parameters."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from analyzer import Analysis, analyze

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def truth_files() -> list[Path]:
    return sorted(CAPTURES.glob("*.truth.json"))


def load_truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def analysis_of(capture_name: str) -> Analysis:
    return analyze(str(CAPTURES / capture_name))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "truth" in metafunc.fixturenames:
        files = truth_files()
        metafunc.parametrize(
            "truth",
            [load_truth(p) for p in files],
            ids=[p.name.removesuffix(".truth.json") for p in files],
        )
