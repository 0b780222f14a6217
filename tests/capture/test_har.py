"""HAR reader: Chrome-, Playwright- and Firefox-style exports built in the test."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.capture.base import CaptureFormat
from analyzer.capture.har import FIRST_CONN_ID, parse_har, read_har
from analyzer.core import Endpoint, Severity, Side
from analyzer.errors import InputError, SioscopeError
from analyzer.transport import AbortKind, HttpExchange, WsMessage, WsOpcode, WsOpened

START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
START_S = int(START.timestamp())
NS = 1_000_000_000


def iso(offset_s: float) -> str:
    return datetime.fromtimestamp(START_S + offset_s, UTC).isoformat().replace("+00:00", "Z")


def entry(url: str, offset_s: float, time_ms: float, **extra: object) -> dict[str, object]:
    response = {"status": 200, "statusText": "OK", "headers": [], "content": {"size": 0}}
    response.update(extra.pop("response", {}))  # type: ignore[call-overload]
    base: dict[str, object] = {
        "startedDateTime": iso(offset_s),
        "time": time_ms,
        "request": {"method": "GET", "url": url, "headers": [{"name": "Accept", "value": "*/*"}]},
        "response": response,
        "serverIPAddress": "10.0.0.2",
        "timings": {"blocked": 1, "dns": -1, "connect": -1, "send": 1, "wait": 8, "receive": 0},
    }
    base.update(extra)
    return base


def har(entries: list[object]) -> bytes:
    return json.dumps({"log": {"version": "1.2", "entries": entries}}).encode()


POLL = "http://example.com/socket.io/?EIO=4&transport=polling&t=abc"
WS = "ws://example.com/socket.io/?EIO=4&transport=websocket&sid=S1"


def ws_entry(messages: Sequence[object] | None, offset_s: float = 1.0) -> dict[str, object]:
    e = entry(WS, offset_s, 30_000.0, _resourceType="websocket")
    e["response"] = {
        "status": 101,
        "statusText": "Switching Protocols",
        "headers": [{"name": "Sec-WebSocket-Extensions", "value": "permessage-deflate"}],
        "content": {"size": 0},
    }
    if messages is not None:
        e["_webSocketMessages"] = list(messages)
    return e


def chrome_har() -> bytes:
    handshake = entry(
        POLL,
        0.0,
        10.0,
        response={"content": {"size": 5, "text": '0{"sid":"S1"}', "mimeType": "text/plain"}},
    )
    post = entry(POLL + "&sid=S1", 0.5, 5.0)
    post["request"]["postData"] = {"mimeType": "text/plain", "text": "40"}  # type: ignore[index]
    aborted = entry(
        POLL + "&sid=S1", 0.6, 100.0, response={"status": 0, "_error": "net::ERR_ABORTED"}
    )
    binary = entry(
        POLL + "&sid=S1",
        0.7,
        3.0,
        response={"content": {"size": 3, "text": "AQID", "encoding": "base64"}},
    )
    messages = [
        {"type": "send", "time": START_S + 1.25, "opcode": 1, "data": "2probe"},
        {"type": "receive", "time": START_S + 1.5, "opcode": 1, "data": "3probe"},
        {"type": "receive", "time": START_S + 2.0, "opcode": 2, "data": "AQID"},
        {"type": "error", "time": START_S + 2.5, "opcode": -1, "data": "Invalid frame header"},
    ]
    return har([handshake, post, aborted, binary, ws_entry(messages)])


def test_chrome_style_har(tmp_path: Path) -> None:
    path = tmp_path / "chrome.har"
    path.write_bytes(chrome_har())
    capture = read_har(str(path))
    assert capture.info.format is CaptureFormat.HAR
    assert capture.info.packets == 5
    assert capture.ws_time_unit == "s"
    exchanges = [e for e in capture.events if isinstance(e, HttpExchange)]
    assert [x.conn for x in exchanges] == [FIRST_CONN_ID + i for i in range(4)]
    first = exchanges[0]
    assert first.client == Endpoint("har-client", 0)
    assert first.server == Endpoint("10.0.0.2", 80)
    assert first.request.ts_ns == START_S * NS
    assert first.response is not None and first.response.body == b'0{"sid":"S1"}'
    assert first.response.end_ns == START_S * NS + 10_000_000
    assert exchanges[1].request.body == b"40" and exchanges[1].request.method == "GET"
    assert exchanges[2].response is None
    assert exchanges[2].abort is AbortKind.HAR_ERROR
    assert exchanges[2].error_text == "net::ERR_ABORTED"
    assert exchanges[3].response is not None and exchanges[3].response.body == b"\x01\x02\x03"

    opened = [e for e in capture.events if isinstance(e, WsOpened)]
    assert len(opened) == 1 and opened[0].conn == FIRST_CONN_ID + 4
    assert opened[0].extensions == "permessage-deflate"
    messages = [e for e in capture.events if isinstance(e, WsMessage)]
    assert [(m.side, m.opcode, m.payload) for m in messages] == [
        (Side.CLIENT, WsOpcode.TEXT, b"2probe"),
        (Side.SERVER, WsOpcode.TEXT, b"3probe"),
        (Side.SERVER, WsOpcode.BINARY, b"\x01\x02\x03"),
    ]
    assert messages[0].ts_ns == (START_S + 1) * NS + 250_000_000
    assert capture.ws_closed_at == {FIRST_CONN_ID + 4: (START_S + 31) * NS}
    assert [d.code for d in capture.diagnostics] == ["har-ws-frame-error"]
    times = [getattr(e, "ts_ns", None) or e.request.ts_ns for e in capture.events]  # type: ignore[union-attr]
    assert times == sorted(times)
    assert capture.info.first_ts_ns == START_S * NS
    assert capture.info.last_ts_ns == (START_S + 31) * NS


def test_playwright_style_milliseconds() -> None:
    messages = [
        {"type": "send", "time": (START_S + 2) * 1000.0, "opcode": 1, "data": "40"},
        {
            "type": "receive",
            "time": (START_S + 2) * 1000.0 + 5,
            "opcode": 1,
            "data": '40{"sid":"x"}',
        },
    ]
    capture = parse_har(har([ws_entry(messages)]))
    assert capture.ws_time_unit == "ms"
    ts = [e.ts_ns for e in capture.events if isinstance(e, WsMessage)]
    assert ts == [(START_S + 2) * NS, (START_S + 2) * NS + 5_000_000]


def test_ws_opened_never_after_its_first_message() -> None:
    early = [{"type": "receive", "time": START_S + 0.5, "opcode": 1, "data": "2"}]
    capture = parse_har(har([ws_entry(early, offset_s=1.0)]))
    assert isinstance(capture.events[0], WsOpened)
    assert capture.events[0].ts_ns == (START_S * NS) + 500_000_000


def test_firefox_export_has_info_diagnostic() -> None:
    capture = parse_har(har([ws_entry(None), ws_entry(None, 5.0)]))
    assert capture.ws_time_unit is None
    assert [e for e in capture.events if isinstance(e, WsOpened)]
    notes = [d for d in capture.diagnostics if d.code == "har-no-ws-messages"]
    assert len(notes) == 1 and notes[0].severity is Severity.INFO
    assert "Firefox" in notes[0].message


def test_client_address_and_ipv6_server() -> None:
    e = entry(
        "https://[::1]:8443/socket.io/?EIO=4&transport=polling", 0, 1, _clientAddress="[::1]:5050"
    )
    e["serverIPAddress"] = "[::1]"
    x = parse_har(har([e])).events[0]
    assert isinstance(x, HttpExchange)
    assert (x.client, x.server) == (Endpoint("::1", 5050), Endpoint("::1", 8443))


def test_bom_is_accepted() -> None:
    capture = parse_har(b"\xef\xbb\xbf" + har([entry(POLL, 0, 1)]))
    assert len(capture.events) == 1


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"{not json", "line 1 column 2"),
        (b"[]", "$"),
        (b'{"nolog": 1}', "$.log"),
        (b'{"log": {"entries": {}}}', "$.log.entries"),
        (b"\xff\xfe", "byte 0"),
    ],
)
def test_unusable_input_raises_input_error(data: bytes, where: str) -> None:
    with pytest.raises(InputError) as info:
        parse_har(data, "x.har")
    assert info.value.where == where and info.value.path == "x.har"


def test_read_har_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_har(str(tmp_path / "missing.har"))


def test_bad_entries_are_skipped_with_paths() -> None:
    good = entry(POLL, 0, 1)
    no_request = entry(POLL, 0, 1)
    del no_request["request"]
    old = entry(POLL, 0, 1, startedDateTime="1970-01-01T00:00:01Z")
    negative = entry(POLL, 0, -5)
    bad_ws = ws_entry([{"type": "send", "time": 12.0, "opcode": 1, "data": "2"}, "junk"])
    capture = parse_har(har([good, 7, no_request, old, negative, bad_ws]))
    wheres = [d.where for d in capture.diagnostics]
    assert wheres == [
        "$.log.entries[1]",
        "$.log.entries[2].request",
        "$.log.entries[3].startedDateTime",
        "$.log.entries[4].time",
        "$.log.entries[5]._webSocketMessages[0].time",
        "$.log.entries[5]._webSocketMessages[1]",
    ]
    assert sum(isinstance(e, HttpExchange) for e in capture.events) == 1
    assert sum(isinstance(e, WsOpened) for e in capture.events) == 1


def test_missing_body_is_flagged() -> None:
    e = entry(POLL, 0, 1, response={"content": {"size": 120, "mimeType": "text/plain"}})
    x = parse_har(har([e])).events[0]
    assert isinstance(x, HttpExchange) and x.response is not None
    assert x.response.body == b"" and x.response.body_truncated


# ---------------------------------------------------------------- properties

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
entry_keys = st.sampled_from(
    ["startedDateTime", "time", "request", "response", "timings", "_webSocketMessages",
     "_resourceType", "serverIPAddress", "_clientAddress"]
)  # fmt: skip


@settings(max_examples=150)
@given(st.lists(st.dictionaries(entry_keys, json_values, max_size=9), max_size=4))
def test_arbitrary_entries_raise_nothing(entries: list[dict[str, object]]) -> None:
    parse_har(har(entries))  # type: ignore[arg-type]


ws_message_fields = {
    "type": st.sampled_from(["send", "receive", "error", 3]),
    "time": json_values,
    "opcode": st.sampled_from([1, 2, -1, 9, None]),
    "data": json_values,
}


@settings(max_examples=150)
@given(st.lists(st.fixed_dictionaries({}, optional=ws_message_fields), max_size=4))
def test_arbitrary_ws_messages_raise_nothing(messages: list[object]) -> None:
    parse_har(har([ws_entry(messages)]))


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_input_error(data: bytes) -> None:
    with contextlib.suppress(SioscopeError):
        parse_har(data)


def test_base64_helper_roundtrip() -> None:
    payload = bytes(range(256))
    e = entry(
        POLL,
        0,
        1,
        response={
            "content": {
                "size": 256,
                "text": base64.b64encode(payload).decode(),
                "encoding": "base64",
            }
        },
    )
    x = parse_har(har([e])).events[0]
    assert isinstance(x, HttpExchange) and x.response is not None and x.response.body == payload
