"""SVG snapshots at a fixed terminal size (pytest-textual-snapshot; skipped without it).

After a deliberate change to the look, regenerate with `pytest tests/tui --snapshot-update`
and read the SVG diff before keeping it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fixtures import make_analysis, streaming_load
from textual.pilot import Pilot

from tui.app import SioscopeApp

pytest.importorskip("pytest_textual_snapshot")

SIZE = (120, 34)
SnapCompare = Callable[..., bool]


def app() -> SioscopeApp:
    return SioscopeApp("lab.pcap", streaming_load(make_analysis()))


async def wait_for_analysis(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def open_stalled_session(pilot: Pilot[None]) -> None:
    await wait_for_analysis(pilot)
    await pilot.press("j", "j", "j", "enter")
    await pilot.pause()
    await pilot.press("j", "j", "j", "j", "j", "j")
    await pilot.pause()


async def show_help(pilot: Pilot[None]) -> None:
    await wait_for_analysis(pilot)
    await pilot.press("question_mark")
    await pilot.pause()


def test_session_table(snap_compare: SnapCompare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=wait_for_analysis)


def test_session_timeline(snap_compare: SnapCompare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=open_stalled_session)


def test_key_help(snap_compare: SnapCompare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=show_help)
