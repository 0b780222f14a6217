"""Fuzzing: only `SioscopeError` may escape a parser or the whole pipeline.

Every parser already has a hypothesis test next to its unit tests; CI runs those with their
own bounded example counts. This module adds the targets no parser test covers (the whole
pipeline on random and mutated captures, hostile limits) and, for a long run, re-runs the
existing per-parser tests with more examples:

    SIOSCOPE_FUZZ_EXAMPLES=100000 pytest tests/robustness/test_fuzz.py

Without the variable the new targets run FUZZ_CI_EXAMPLES examples each and the re-runs
are skipped (their originals already ran).
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.core import Side
from analyzer.errors import SioscopeError
from analyzer.limits import Limits
from analyzer.pipeline import analyze
from analyzer.report.jsonreport import render_json
from analyzer.socketio import decode_sio
from analyzer.websocket import WsLimits, WsParser
from tests.robustness import craft

FUZZ_ENV = "SIOSCOPE_FUZZ_EXAMPLES"
FUZZ_CI_EXAMPLES = 50
LONG_RUN = int(os.environ.get(FUZZ_ENV, "0") or 0)
EXAMPLES = LONG_RUN or FUZZ_CI_EXAMPLES
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
TINY = Limits(
    max_buffer_per_connection=4096, max_open_connections=4, http_header_bytes=256,
    http_body_bytes=512, http_inflate_bytes=512, ws_frame_bytes=256, ws_message_bytes=512,
    ws_inflate_bytes=512, sio_text_chars=512, json_depth=8, open_sessions=4,
    timeline_events=16,
)  # fmt: skip

# The per-parser "raises nothing but SioscopeError" tests, re-run with LONG_RUN examples.
PARSER_TESTS = {
    "pcap": ("tests.capture.test_capture_pcap",
             "test_random_bytes_after_header_raise_nothing_else"),
    "pcapng": ("tests.capture.test_capture_pcapng",
               "test_random_bytes_after_header_raise_nothing_else"),
    "tcp": ("tests.net.test_net_tcp_props", "test_arbitrary_segments_never_raise"),
    "http": ("tests.test_http1", "test_arbitrary_bytes_never_raise"),
    "flows": ("tests.test_flows", "test_arbitrary_stream_bytes_never_raise"),
    "websocket": ("tests.test_websocket", "test_arbitrary_bytes_never_raise"),
    "engineio-polling": ("tests.test_engineio", "test_polling_body_never_raises"),
    "engineio-ws": ("tests.test_engineio", "test_ws_message_raises_only_decode_error"),
    "socketio": ("tests.test_socketio", "test_decode_raises_only_decode_error"),
    "socketio-binary": ("tests.test_socketio", "test_assembler_raises_only_decode_error"),
    "har-bytes": ("tests.capture.test_har", "test_arbitrary_bytes_raise_only_input_error"),
    "har-entries": ("tests.capture.test_har", "test_arbitrary_entries_raise_nothing"),
}  # fmt: skip


def run_with_examples(test: Any, count: int, **fixtures: object) -> int:
    """Run an existing hypothesis test with another example count; returns the calls made.

    Hypothesis refuses a second @settings, so this swaps the settings object the test
    carries (a private attribute; the assert says if it moves) and restores it after.
    `inner_test` is documented as reassignable: wrapping it counts the examples run.
    """
    original = getattr(test, "_hypothesis_internal_use_settings", None)
    assert isinstance(original, settings), "hypothesis changed how tests carry settings"
    inner = test.hypothesis.inner_test
    calls = 0

    def counted(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        _progress(test.__name__, calls)
        inner(*args, **kwargs)

    test._hypothesis_internal_use_settings = settings(
        original, max_examples=count, deadline=None, database=None
    )
    test.hypothesis.inner_test = counted
    try:
        test(**fixtures)
    finally:
        test._hypothesis_internal_use_settings = original
        test.hypothesis.inner_test = inner
    return calls


@pytest.mark.skipif(not LONG_RUN, reason=f"long run only: set {FUZZ_ENV}")
@pytest.mark.parametrize("target", sorted(PARSER_TESTS))
def test_parser_fuzz_long_run(target: str, tmp_path: Path) -> None:
    module, name = PARSER_TESTS[target]
    test = getattr(importlib.import_module(module), name)
    wants_tmp = "tmp_path" in test.hypothesis.inner_test.__code__.co_varnames
    calls = run_with_examples(test, LONG_RUN, **({"tmp_path": tmp_path} if wants_tmp else {}))
    print(f"\nfuzz {target}: {calls} examples run (asked {LONG_RUN})")
    assert calls > 0


_CALLS: Counter[str] = Counter()


def _progress(name: str, calls: int) -> None:
    """Long runs say how far they got, so a run cut by its time bound still has a count."""
    if LONG_RUN and calls % 10_000 == 0:
        print(f"fuzz progress {name}: {calls}", flush=True)


def _tally(name: str) -> None:
    _CALLS[name] += 1
    _progress(name, _CALLS[name])


def _run_pipeline(path: Path, limits: Limits | None = None) -> None:
    _tally("pipeline")
    try:
        analysis = analyze(str(path), limits=limits)
    except SioscopeError:
        return
    render_json([analysis])  # the writers must take whatever the pipeline produced


VALID = craft.pcap_file(
    craft.websocket_session("sidF", [craft.ws_frame(1, b'42["e",{"a":[1,2]}]', mask=False)])
)


@FUZZ
@given(st.binary(max_size=2000))
def test_pipeline_on_random_bytes_after_a_pcap_header(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "random.pcap"
    path.write_bytes(craft.pcap_header() + tail)
    _run_pipeline(path)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """A valid capture with a few bytes replaced, then maybe cut short."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(24, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(24, len(data)))])


@FUZZ
@given(mutated(VALID), st.booleans())
def test_pipeline_on_mutated_captures(tmp_path: Path, data: bytes, tiny: bool) -> None:
    path = tmp_path / "mutated.pcap"
    path.write_bytes(data)
    _run_pipeline(path, TINY if tiny else None)


@FUZZ
@given(mutated(craft.pcapng_file(craft.websocket_session("sidG", []))))
def test_pipeline_on_mutated_pcapng(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "mutated.pcapng"
    path.write_bytes(data)
    _run_pipeline(path)


@FUZZ
@given(st.integers(0, (1 << 64) - 1), st.binary(max_size=64), st.booleans())
def test_websocket_hostile_lengths(declared: int, payload: bytes, split: bool) -> None:
    _tally("websocket-lengths")
    frame = craft.ws_frame(2, payload, mask=False, declared=declared & ((1 << 63) - 1))
    parser = WsParser(1, Side.SERVER, limits=WsLimits(256, 512, 512))
    try:
        offset = 0
        for part in (frame[:3], frame[3:]) if split else (frame,):
            parser.feed(0, part, offset)
            offset += len(part)
        out = parser.finish()
    except SioscopeError:
        return
    if declared > 256:  # an oversized frame is never delivered as a message
        assert not [o for o in out if type(o).__name__ == "WsMessage"]


@FUZZ
@given(st.integers(0, 3000), st.sampled_from(["[", '{"a":']))
def test_socketio_depth_is_bounded(depth: int, opener: str) -> None:
    _tally("socketio-depth")
    closer = "]" if opener == "[" else "}"
    text = '2["e",' + opener * depth + "1" + closer * depth + "]"
    try:
        packet = decode_sio(text, 5, max_depth=50)
    except SioscopeError:
        assert depth + 1 > 50  # the event's own list is one level
        return
    assert depth + 1 <= 50 and packet.data is not None
