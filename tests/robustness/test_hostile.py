"""Hostile content through the whole pipeline: every bound holds and says so in a diagnostic."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from analyzer.errors import UsageError
from analyzer.limits import Limits, limit_names, limits_from, parse_size
from analyzer.model import Analysis
from analyzer.pipeline import analyze
from tests.robustness import craft

SESSIONS = 1500  # enough to see linear behaviour; the million-session run is outside the suite


def _analyze(tmp_path: Path, records: list[craft.Record], limits: Limits | None = None) -> Analysis:
    path = tmp_path / "hostile.pcap"
    path.write_bytes(craft.pcap_file(records))
    return analyze(str(path), limits=limits)


def _codes(analysis: Analysis) -> set[str]:
    return {d.code for d in analysis.diagnostics}


def test_many_tiny_sessions_are_all_rebuilt_in_linear_time(tmp_path: Path) -> None:
    started = time.perf_counter()
    analysis = _analyze(tmp_path, list(craft.many_sessions(SESSIONS)))
    elapsed = time.perf_counter() - started
    assert len(analysis.sessions) == SESSIONS
    assert len({s.sid for s in analysis.sessions}) == SESSIONS
    assert elapsed < SESSIONS * 0.01  # 10 ms a session is already 10x what it costs


def test_open_connection_limit_evicts_with_a_diagnostic(tmp_path: Path) -> None:
    records = []
    for n in range(20):  # 20 connections left open: only SYN and the request
        conv = craft.Conversation(client=(2, 2000 + n), ts_ns=craft.T0 + n * 1000)
        records += conv.open().client_sends(craft.http_get("/socket.io/?EIO=4")).records
    analysis = _analyze(tmp_path, sorted(records), Limits(max_open_connections=5))
    assert "tcp-connection-limit" in _codes(analysis)


def test_websocket_length_near_2_63_is_refused_at_default_limits(tmp_path: Path) -> None:
    frame = craft.ws_frame(2, b"\0" * 16, mask=False, declared=(1 << 63) - 1)
    analysis = _analyze(tmp_path, craft.websocket_session("big", [frame]))
    assert "ws-frame-too-large" in _codes(analysis)
    assert [s.sid for s in analysis.sessions] == ["big"]  # the session itself survives


def test_permessage_deflate_bomb_is_cut(tmp_path: Path) -> None:
    bomb = craft.deflate_raw(b"4" + b"\0" * (2 << 20))
    frame = craft.ws_frame(1, bomb, mask=False, rsv1=True)
    records = craft.websocket_session("bomb", [frame], deflate=True)
    assert "ws-inflate-limit" not in _codes(_analyze(tmp_path, records))
    small = _analyze(tmp_path, records, Limits(ws_inflate_bytes=64 * 1024))
    assert "ws-inflate-limit" in _codes(small)


def _polling(sid: str, body: bytes, extra: str = "") -> list[craft.Record]:
    conv = craft.polling_handshake(craft.Conversation(client=(4, 41000)).open(), sid)
    conv.client_sends(craft.http_get(f"/socket.io/?EIO=4&transport=polling&sid={sid}"))
    return conv.server_sends(craft.http_response(body, extra)).close().records


def test_gzip_bomb_in_a_polling_response_is_cut(tmp_path: Path) -> None:
    body = craft.gzip_bytes(b"4" + b"0" * (2 << 20))
    records = _polling("gz", body, "Content-Encoding: gzip\r\n")
    analysis = _analyze(tmp_path, records, Limits(http_inflate_bytes=64 * 1024))
    assert "http-inflate-limit" in _codes(analysis)


def test_endless_chunked_body_is_kept_to_the_limit(tmp_path: Path) -> None:
    conv = craft.polling_handshake(craft.Conversation(client=(5, 42000)).open(), "ch")
    conv.client_sends(craft.http_get("/socket.io/?EIO=4&transport=polling&sid=ch"))
    conv.server_sends(craft.http_response(b"", "Transfer-Encoding: chunked\r\n"))
    conv.server_sends((b"400\r\n" + b"6" * 0x400 + b"\r\n") * 64, mss=4096)
    analysis = _analyze(tmp_path, conv.records, Limits(http_body_bytes=8 * 1024))
    diagnostics = [d for d in analysis.diagnostics if d.code == "http-body-limit"]
    assert diagnostics and "kept 8192" in diagnostics[0].message


def test_polling_length_prefix_past_the_body(tmp_path: Path) -> None:
    analysis = _analyze(tmp_path, _polling("lp", b"4:4abc"))  # v3-style prefix over v4 body
    analysis_long = _analyze(tmp_path, _polling("lp", b"99:4hello"))
    assert analysis.sessions and analysis_long.sessions
    assert "malformed-engineio" in _codes(analysis_long)


def test_repeated_sid_is_a_diagnostic(tmp_path: Path) -> None:
    first = craft.polling_handshake(craft.Conversation(client=(2, 3000)).open(), "dup")
    again = craft.Conversation(client=(3, 3001), ts_ns=first.ts_ns + 10**9)
    craft.polling_handshake(again.open(), "dup")
    analysis = _analyze(tmp_path, first.records + again.records)
    assert "repeated-sid" in _codes(analysis)


@pytest.mark.parametrize("depth", [300, 5000])  # past our bound; past the json module's
def test_deeply_nested_event_is_malformed_not_a_crash(tmp_path: Path, depth: int) -> None:
    nested = b'42["deep",' + b"[" * depth + b"]" * depth + b"]"
    frames = [craft.ws_frame(1, nested, mask=False), craft.ws_frame(1, b'42["ok"]', mask=False)]
    analysis = _analyze(tmp_path, craft.websocket_session("deep", frames))
    assert "malformed-socketio" in _codes(analysis)
    timeline = " ".join(e.text for e in analysis.sessions[0].timeline)
    assert 'event "ok"' in timeline  # the next packet is still decoded


def test_limits_from_overrides_and_rejects() -> None:
    limits = limits_from({"ws_frame_bytes": 10, "json_depth": None})
    assert limits.ws_frame_bytes == 10 and limits.json_depth == Limits().json_depth
    assert limits.websocket().frame_bytes == 10 and limits.http() == Limits().http()
    with pytest.raises(UsageError):
        limits_from({"ws_frame_bytes": 0})
    with pytest.raises(UsageError):
        limits_from({"no_such_limit": 1})
    assert len(limit_names()) == len(set(limit_names())) >= 13


@pytest.mark.parametrize(
    ("text", "value"), [("4096", 4096), ("64k", 65536), ("8M", 8 << 20), ("1GiB", 1 << 30)]
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "k", "1.5M", "-1", "12q", "0x10"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_size(text)


# Bounds the session layer applies: open sessions, timeline lines, Socket.IO text and depth.


def test_open_sessions_limit_is_a_diagnostic(tmp_path: Path) -> None:
    records = []
    for n in range(20):  # handshakes whose sessions never close
        conv = craft.Conversation(client=(2, 5000 + n), ts_ns=craft.T0 + n * 1_000_000)
        records += craft.polling_handshake(conv.open(), f"open{n:02d}").records
    analysis = _analyze(tmp_path, sorted(records), Limits(open_sessions=5))
    assert "session-limit" in _codes(analysis)


def test_timeline_events_limit_applies(tmp_path: Path) -> None:
    frames = [craft.ws_frame(1, b'42["tick"]', mask=False) for _ in range(40)]
    analysis = _analyze(tmp_path, craft.websocket_session("tl", frames), Limits(timeline_events=16))
    assert len(analysis.sessions[0].timeline) <= 16


def test_json_depth_limit_applies(tmp_path: Path) -> None:
    nested = b'42["deep",' + b"[" * 20 + b"]" * 20 + b"]"
    frames = [craft.ws_frame(1, nested, mask=False)]
    analysis = _analyze(tmp_path, craft.websocket_session("jd", frames), Limits(json_depth=8))
    assert "malformed-socketio" in _codes(analysis)
