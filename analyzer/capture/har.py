"""HAR reader: turns browser exports into the transport events a pcap would give.

HAR has no TCP, so each entry becomes an `HttpExchange` (or `WsOpened` + `WsMessage`s for a
WebSocket entry) on a synthetic connection id. Facts HAR lacks (close frames, FIN/RST) are
simply absent; the websocket entry's end time is kept apart as a weak hint.
Reference: protocol-facts §6 (Chrome `_webSocketMessages`, Firefox exports none).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from analyzer.capture.base import CaptureFormat, CaptureInfo
from analyzer.core import NS_PER_S, Diagnostic, Endpoint, Severity, Side
from analyzer.errors import DecodeError, InputError
from analyzer.transport import (
    AbortKind,
    Headers,
    HttpExchange,
    HttpRequest,
    HttpResponse,
    TransportEvent,
    WsMessage,
    WsOpcode,
    WsOpened,
    header,
)

FIRST_CONN_ID = 1_000_000
MAX_HAR_BYTES = 1 << 30
EARLIEST_NS = 788_918_400 * NS_PER_S  # 1995-01-01: anything older is a broken clock
LATEST_NS = 4_102_444_800 * NS_PER_S  # 2100-01-01
MS_THRESHOLD = 1e11  # epoch seconds stay below this until year 5138; epoch ms passed it in 1973
NS_PER_MS = 1_000_000
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
HAR_CLIENT = Endpoint("har-client", 0)

WsTimeUnit = Literal["s", "ms"]


@dataclass(frozen=True, slots=True)
class HarCapture:
    info: CaptureInfo
    events: list[TransportEvent]  # sorted by time
    diagnostics: list[Diagnostic]
    ws_closed_at: dict[int, int]  # conn -> startedDateTime + time: a weak "closed by then" hint
    ws_time_unit: WsTimeUnit | None  # unit of `_webSocketMessages[].time` (None: no messages)


class _Skip(DecodeError):
    """An entry (or message) of the wrong shape: skipped with a diagnostic."""


def read_har(path: str, max_bytes: int = MAX_HAR_BYTES) -> HarCapture:
    """Read a HAR file; InputError when it is not a usable HAR at all (or over `max_bytes`)."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise InputError(f"HAR file of {size} bytes exceeds {max_bytes}", path=path)
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    return parse_har(data, path)


def parse_har(data: bytes, path: str = "<har>") -> HarCapture:
    """Parse HAR bytes (the file's content); kept apart from `read_har` for tests."""
    entries = _entries(_load_json(data, path), path)
    reader = _EntryReader(_detect_ws_time_unit(entries))
    for index, entry in enumerate(entries):
        reader.read_entry(index, entry)
    events = [event for _, _, event in sorted(reader.events, key=lambda item: item[:2])]
    times = [ts for ts, _, _ in reader.events] + list(reader.ends)
    info = CaptureInfo(
        path=path,
        format=CaptureFormat.HAR,
        packets=len(entries),
        bytes=len(data),
        first_ts_ns=min(times, default=None),
        last_ts_ns=max(times, default=None),
        truncated=False,
    )
    return HarCapture(info, events, reader.diagnostics, reader.ws_closed_at, reader.unit)


def _load_json(data: bytes, path: str) -> object:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("HAR is not UTF-8 text", path=path, where=f"byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise InputError(f"not valid JSON: {exc.msg}", path=path, where=where) from None
    except RecursionError:
        raise InputError("JSON nested too deeply", path=path) from None
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", path=path) from None


def _entries(root: object, path: str) -> list[object]:
    if not isinstance(root, dict):
        raise InputError("HAR root is not an object", path=path, where="$")
    log = root.get("log")
    if not isinstance(log, dict):
        raise InputError("missing or invalid `log` object", path=path, where="$.log")
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise InputError("`entries` is not a list", path=path, where="$.log.entries")
    return entries


def _detect_ws_time_unit(entries: list[object]) -> WsTimeUnit | None:
    """Chrome writes epoch seconds, Playwright epoch milliseconds: decide once per file."""
    for entry in entries:
        messages = entry.get("_webSocketMessages") if isinstance(entry, dict) else None
        for message in messages if isinstance(messages, list) else ():
            value = _number(message.get("time") if isinstance(message, dict) else None)
            if value is not None and value > 0:
                return "ms" if value > MS_THRESHOLD else "s"
    return None


def _number(value: object) -> float | None:
    """A finite JSON number as float; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if abs(number) < float("inf") else None


# ---------------------------------------------------------------------------- shape helpers


def _dict(value: object, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _Skip(f"expected an object at {where}", where=where)
    return value


def _opt_dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise _Skip(f"expected a string at {where}", where=where)
    return value


def _ms(value: object) -> float:
    """A HAR duration in ms; -1 (not applicable) and garbage count as 0."""
    number = _number(value)
    return number if number is not None and number >= 0 else 0.0


def _ms_to_ns(value: float) -> int:
    return round(value * NS_PER_MS) if value < 1e15 else 10**21


def _headers(value: object) -> Headers:
    pairs: list[tuple[str, str]] = []
    for item in value if isinstance(value, list) else []:
        name, text = _opt_dict(item).get("name"), _opt_dict(item).get("value")
        if isinstance(name, str) and isinstance(text, str):
            pairs.append((name, text))
    return tuple(pairs)


def _text_body(container: dict[str, object], where: str) -> tuple[bytes, bool]:
    """(body, missing): `text` with optional base64 `encoding`; missing when size says so."""
    text = container.get("text")
    if not isinstance(text, str):
        size = _number(container.get("size"))
        return b"", size is not None and size > 0
    if container.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=False), False
        except (binascii.Error, ValueError):
            raise _Skip(f"invalid base64 body at {where}.text", where=where) from None
    return text.encode("utf-8", "surrogatepass"), False


def _started_ns(value: object, where: str) -> int:
    text = _str(value, where)
    try:
        moment = datetime.fromisoformat(text)
        seconds = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise _Skip(f"bad startedDateTime {text[:40]!r}", where=where) from None
    return _checked_ts(round(seconds * 1_000_000) * 1000, where)


def _checked_ts(ts_ns: int, where: str) -> int:
    if not EARLIEST_NS <= ts_ns <= LATEST_NS:
        raise _Skip(f"absurd timestamp {ts_ns} ns (before 1995 or after 2100)", where=where)
    return ts_ns


def _endpoint(address: object) -> Endpoint | None:
    """`_clientAddress` as "ip:port", "[v6]:port", "ip" or {"ip":..., "port":...}."""
    if isinstance(address, dict):
        ip, port = address.get("ip") or address.get("address"), address.get("port")
        if isinstance(ip, str) and ip:
            return Endpoint(ip.strip("[]"), port if isinstance(port, int) else 0)
        return None
    if not isinstance(address, str) or not address:
        return None
    if address.startswith("["):
        ip, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        ip, port = address.split(":")
    else:
        ip, port = address, ""
    return Endpoint(ip, int(port) if port.isascii() and port.isdigit() and len(port) < 6 else 0)


# ---------------------------------------------------------------------------- entries


class _EntryReader:
    """Turns entries into events; collects diagnostics instead of failing."""

    def __init__(self, unit: WsTimeUnit | None) -> None:
        self.unit = unit
        self.events: list[tuple[int, int, TransportEvent]] = []
        self.ends: list[int] = []
        self.diagnostics: list[Diagnostic] = []
        self.ws_closed_at: dict[int, int] = {}
        self._firefox_noted = False

    def read_entry(self, index: int, raw: object) -> None:
        where = f"$.log.entries[{index}]"
        try:
            self._entry(FIRST_CONN_ID + index, _dict(raw, where), where)
        except _Skip as exc:
            self._note("har-bad-entry", Severity.WARNING, exc.where or where, exc.message)

    def _note(self, code: str, severity: Severity, where: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(code, severity, where, message))

    def _add(self, ts_ns: int, event: TransportEvent) -> None:
        self.events.append((ts_ns, len(self.events), event))

    def _entry(self, conn: int, entry: dict[str, object], where: str) -> None:
        start = _started_ns(entry.get("startedDateTime"), f"{where}.startedDateTime")
        total = _number(entry.get("time", 0))
        request_raw = _dict(entry.get("request"), f"{where}.request")
        response_raw = _opt_dict(entry.get("response"))
        if total is not None and total < 0 and _never_answered(response_raw):
            # Chrome and Playwright write time -1 and status -1 (or 0) for a request that was
            # aborted before any response, such as the long-poll GET of a closing page.
            total = 0.0
        if total is None or total < 0:
            raise _Skip(f"negative or invalid time {entry.get('time')!r}", where=f"{where}.time")
        end = _checked_ts(start + _ms_to_ns(total), f"{where}.time")
        url = _str(request_raw.get("url"), f"{where}.request.url")
        client = _endpoint(entry.get("_clientAddress")) or HAR_CLIENT
        server = self._server(entry, url, f"{where}.request.url")
        timings = _opt_dict(entry.get("timings"))
        before_wait = ("blocked", "dns", "connect", "send")
        sent = start + _ms_to_ns(sum(_ms(timings.get(k)) for k in before_wait))
        request = self._request(request_raw, url, start, min(sent, end), f"{where}.request")
        answered = min(sent + _ms_to_ns(_ms(timings.get("wait"))), end)
        status = response_raw.get("status")
        if status == 101 and self._is_websocket(entry, url, response_raw):
            response = self._response(response_raw, answered, answered, f"{where}.response")
            self._websocket(conn, entry, client, server, request, response, where)
            self.ws_closed_at[conn] = end
            self.ends.append(end)
            return
        self.ends.append(end)
        error = response_raw.get("_error")
        error_text = error if isinstance(error, str) and error else None
        if not isinstance(status, int) or status <= 0 or error_text:
            text = error_text or "no response (request aborted)"
            exchange = HttpExchange(conn, client, server, request, None, AbortKind.HAR_ERROR, text)
        else:
            response = self._response(response_raw, answered, end, f"{where}.response")
            exchange = HttpExchange(conn, client, server, request, response)
        self._add(start, exchange)

    @staticmethod
    def _server(entry: dict[str, object], url: str, where: str) -> Endpoint:
        try:
            parts = urlsplit(url)
            port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
        except ValueError:
            raise _Skip(f"unparsable URL {url[:80]!r}", where=where) from None
        ip = entry.get("serverIPAddress")
        host = ip.strip("[]") if isinstance(ip, str) and ip else (parts.hostname or "")
        return Endpoint(host or "har-server", port)

    @staticmethod
    def _is_websocket(entry: dict[str, object], url: str, response: dict[str, object]) -> bool:
        if entry.get("_resourceType") == "websocket" or url.lower().startswith(("ws:", "wss:")):
            return True
        upgrade = header(_headers(response.get("headers")), "upgrade")
        return upgrade is not None and upgrade.lower() == "websocket"

    @staticmethod
    def _request(raw: dict[str, object], url: str, ts: int, end: int, where: str) -> HttpRequest:
        method = raw.get("method")
        body, missing = _text_body(_opt_dict(raw.get("postData")), f"{where}.postData")
        return HttpRequest(
            ts_ns=ts,
            method=method if isinstance(method, str) else "GET",
            target=url,
            headers=_headers(raw.get("headers")),
            body=body,
            end_ns=end,
            body_truncated=missing,
        )

    @staticmethod
    def _response(raw: dict[str, object], ts: int, end: int, where: str) -> HttpResponse:
        body, missing = _text_body(_opt_dict(raw.get("content")), f"{where}.content")
        status, reason = raw.get("status"), raw.get("statusText")
        return HttpResponse(
            ts_ns=ts,
            status=status if isinstance(status, int) else 0,
            reason=reason if isinstance(reason, str) else "",
            headers=_headers(raw.get("headers")),
            body=body,
            end_ns=end,
            body_truncated=missing,
        )

    def _websocket(
        self,
        conn: int,
        entry: dict[str, object],
        client: Endpoint,
        server: Endpoint,
        request: HttpRequest,
        response: HttpResponse,
        where: str,
    ) -> None:
        if "_webSocketMessages" not in entry and not self._firefox_noted:
            self._firefox_noted = True
            self._note(
                "har-no-ws-messages",
                Severity.INFO,
                where,
                "this HAR has no websocket messages (Firefox does not export them)",
            )
        messages = [m for m in self._messages(conn, entry, where) if m is not None]
        opened_at = min([response.ts_ns, *(m.ts_ns for m in messages)])
        extensions = header(response.headers, "sec-websocket-extensions")
        opened = WsOpened(conn, client, server, opened_at, request, response, extensions)
        self._add(opened_at, opened)
        for message in messages:
            self._add(message.ts_ns, message)

    def _messages(
        self, conn: int, entry: dict[str, object], where: str
    ) -> Iterator[WsMessage | None]:
        messages = entry.get("_webSocketMessages")
        for index, raw in enumerate(messages if isinstance(messages, list) else []):
            place = f"{where}._webSocketMessages[{index}]"
            try:
                yield self._message(conn, _dict(raw, place), place)
            except _Skip as exc:
                self._note("har-bad-ws-message", Severity.WARNING, exc.where or place, exc.message)

    def _message(self, conn: int, raw: dict[str, object], where: str) -> WsMessage | None:
        kind, opcode, data = raw.get("type"), raw.get("opcode"), raw.get("data")
        if kind == "error":
            text = data if isinstance(data, str) else ""
            self._note("har-ws-frame-error", Severity.WARNING, where, f"frame error: {text[:200]}")
            return None
        if kind not in ("send", "receive"):
            raise _Skip(f"unknown message type {kind!r}", where=f"{where}.type")
        text = _str(data, f"{where}.data")
        if opcode == 1:
            payload, code = text.encode("utf-8", "surrogatepass"), WsOpcode.TEXT
        elif opcode == 2:
            try:
                payload, code = base64.b64decode(text, validate=False), WsOpcode.BINARY
            except (binascii.Error, ValueError):
                raise _Skip("binary message data is not base64", where=f"{where}.data") from None
        else:
            raise _Skip(f"unsupported opcode {opcode!r}", where=f"{where}.opcode")
        side = Side.CLIENT if kind == "send" else Side.SERVER
        return WsMessage(conn, side, self._message_ts(raw.get("time"), where), code, payload)

    def _message_ts(self, value: object, where: str) -> int:
        number = _number(value)
        if number is None:
            raise _Skip(f"message time {value!r} is not a number", where=f"{where}.time")
        seconds = number / (1000.0 if self.unit == "ms" else 1.0)
        if not 0 < seconds < 1e11:
            raise _Skip(f"absurd message time {value!r}", where=f"{where}.time")
        return _checked_ts(round(seconds * 1_000_000) * 1000, f"{where}.time")


def _never_answered(response: dict[str, object]) -> bool:
    status = response.get("status")
    return not isinstance(status, int) or status <= 0
