"""Engine.IO v3/v4 codec: packets, polling payloads, query strings, handshakes, HTTP errors.

Pure functions over bytes and text (no state), so the session builder can decode whatever
the transport layer hands it. Wire reference: protocol-facts §1 (engine.io-parser v4,
engine.io `lib/parser-v3`, python-engineio).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple
from urllib.parse import parse_qsl

from analyzer.core import new_record
from analyzer.errors import DecodeError

RECORD_SEPARATOR = "\x1e"  # v4 polling payload separator
MAX_LENGTH_DIGITS: Final = 12  # a v3 length prefix longer than this cannot fit any real body
KNOWN_TRANSPORTS = frozenset({"polling", "websocket", "webtransport"})


class EioPacketType(enum.IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class EioPacket(NamedTuple):
    """One Engine.IO packet; `binary` tells that `data` is bytes (a binary message).

    A tuple: one is built per packet, and tuples are several times cheaper to make than
    frozen dataclasses."""

    type: EioPacketType
    data: str | bytes
    binary: bool


class DecodedPayload(NamedTuple):
    """The packets decoded before the first error (if any) of a polling body (a tuple:
    one per polling request)."""

    packets: tuple[EioPacket, ...]
    error: str | None


# ---------------------------------------------------------------------------- query


class EioQuery(NamedTuple):
    """The Engine.IO reading of a request's query; a tuple because one is built per request."""

    path: str
    eio: int | None
    transport: str | None
    sid: str | None
    b64: bool
    jsonp: str | None
    params: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        """First value of a query parameter."""
        for key, value in self.params:
            if key == name:
                return value
        return None


def parse_query(target: str) -> EioQuery:
    """Split a request-target or a full URL (HAR, absolute-form) into Engine.IO params.

    Never raises: a target that is not a URL at all just yields a path and no params.
    """
    rest = target.split("#", 1)[0] if "#" in target else target
    scheme_sep = rest.find("://")
    if scheme_sep != -1 and "?" not in rest[:scheme_sep]:
        after_authority = rest.find("/", scheme_sep + 3)
        query_start = rest.find("?", scheme_sep + 3)
        cut = min(i for i in (after_authority, query_start, len(rest)) if i != -1)
        rest = rest[cut:] or "/"
        if rest.startswith("?"):
            rest = "/" + rest
    path, _, query = rest.partition("?")
    params = _query_params(query)
    first = dict(reversed(params)).get
    eio_text = first("EIO")
    valid_eio = eio_text is not None and eio_text.isascii() and eio_text.isdigit()
    eio = int(eio_text) if valid_eio and eio_text is not None and len(eio_text) < 4 else None
    # Positional (path, eio, transport, sid, b64, jsonp, params): keywords cost 2x per request.
    # b64: engine.io sets supportsBinary = !query.b64.
    transport, sid, b64, jsonp = first("transport"), first("sid"), bool(first("b64")), first("j")
    return new_record(EioQuery, (path, eio, transport, sid, b64, jsonp, params))


def _query_params(query: str) -> tuple[tuple[str, str], ...]:
    """`parse_qsl(query, keep_blank_values=True)`; without `%` or `+` nothing needs
    unquoting, so a plain split gives the same pairs at a fraction of the cost."""
    if "%" in query or "+" in query:
        return tuple(parse_qsl(query, keep_blank_values=True))
    pairs = []
    for field in query.split("&"):
        if field:  # parse_qsl skips empty fields
            name, _, value = field.partition("=")
            pairs.append((name, value))
    return tuple(pairs)


def is_engineio_request(query: EioQuery) -> bool:
    """Engine.IO requests carry `EIO` or a known `transport`; the path may be custom."""
    return query.eio is not None or query.transport in KNOWN_TRANSPORTS


# ---------------------------------------------------------------------------- packets


_TYPE_BY_CHAR = {str(int(kind)): kind for kind in EioPacketType}  # no enum call per packet
_TYPE_BY_BYTE = tuple(EioPacketType)


def _packet_type(char: str) -> EioPacketType:
    kind = _TYPE_BY_CHAR.get(char)
    if kind is None:
        raise DecodeError(f"unknown Engine.IO packet type {char!r}")
    return kind


def _b64decode(text: str) -> bytes:
    """Node's Buffer.from(x, 'base64') is lenient about padding; so are we."""
    cleaned = text.strip()
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError(f"invalid base64 in binary packet: {exc}") from None


def decode_text_packet(text: str, eio: int) -> EioPacket:
    """`<type digit><data>`, or a base64 binary packet (`b<b64>` in v4, `b<type><b64>` in v3)."""
    if not text:
        raise DecodeError("empty Engine.IO packet")
    if text[0] == "b":
        if eio >= 4:
            return new_record(EioPacket, (EioPacketType.MESSAGE, _b64decode(text[1:]), True))
        return new_record(EioPacket, (_packet_type(text[1:2]), _b64decode(text[2:]), True))
    kind = _TYPE_BY_CHAR.get(text[0])  # _packet_type, inlined for the common case
    if kind is None:
        raise DecodeError(f"unknown Engine.IO packet type {text[0]!r}")
    return new_record(EioPacket, (kind, text[1:], False))


# The first bytes of a WebSocket message that decodes to a close (1) or ping (2) packet:
# text `1`/`2`, v3's base64 form `b1`/`b2`, or a v3 binary frame's type byte.
_CLOSE_OR_PING_TEXT = frozenset(b"12")
_CLOSE_OR_PING_BYTE = frozenset((1, 2))


def may_be_close_or_ping(payload: bytes, binary: bool) -> bool:
    """Whether `decode_ws_message` can make a close or ping packet of this message, in any
    Engine.IO version. These are the only messages whose delivery time (their TCP ACK)
    tells anything: a ping ACKed but unanswered means a stalled peer, not a lost ping."""
    if not payload:
        return False
    first = payload[0]
    if binary:
        return first in _CLOSE_OR_PING_BYTE
    if first == 0x62:  # "b": base64; its type follows in v3
        return len(payload) > 1 and payload[1] in _CLOSE_OR_PING_TEXT
    return first in _CLOSE_OR_PING_TEXT


# Where a close or ping packet can start inside a plain polling body: after a v4 record
# separator, after a v3 length prefix (text, or v3's base64 form), or anywhere in a form's
# `d=` field (percent-encoded).
_CLOSE_OR_PING_INSIDE = (b"\x1e1", b"\x1e2", b":1", b":2", b":b1", b":b2", b"d=")
_PLAIN_FIRST = frozenset(b"0123456789b")  # v4 packet types, v3 length digits, v4 base64


def may_hold_close_or_ping(body: bytes) -> bool:
    """Whether `decode_polling_body` can find a close or ping packet in this body, in any
    Engine.IO version and content type. Only the plain text forms are looked into; any
    other body (v3 binary, JSONP, an error page) is assumed to hold one."""
    if not body:
        return False
    first = body[0]
    if first in _CLOSE_OR_PING_TEXT or first not in _PLAIN_FIRST:
        return True
    return any(marker in body for marker in _CLOSE_OR_PING_INSIDE)


def decode_ws_message(payload: bytes, binary: bool, eio: int) -> EioPacket:
    """One WebSocket data message is one Engine.IO packet."""
    if binary:
        if eio >= 4:
            return new_record(EioPacket, (EioPacketType.MESSAGE, payload, True))
        if not payload:
            raise DecodeError("empty binary Engine.IO v3 frame")
        if payload[0] > 6:
            raise DecodeError(f"unknown Engine.IO packet type byte {payload[0]}")
        return new_record(EioPacket, (_TYPE_BY_BYTE[payload[0]], payload[1:], True))
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"text frame is not UTF-8: {exc.reason} at byte {exc.start}") from None
    return decode_text_packet(text, eio)


# ---------------------------------------------------------------------------- payloads


def decode_polling_body(body: bytes, eio: int, content_type: str | None) -> DecodedPayload:
    """Decode a long-polling GET response or POST body into packets (never raises)."""
    packets: list[EioPacket] = []
    try:
        if eio < 4 and _is_v3_binary(body, content_type):
            error = _decode_v3_binary(body, packets)
        else:
            text = _body_text(body)
            if text.startswith(("___eio[", "d=")) or _is_form(content_type):
                text = _unwrap_jsonp(text, content_type)  # skipped for the usual plain body
            decode_text = _decode_v4_text if eio >= 4 else _decode_v3_text
            error = decode_text(text, packets)
    except DecodeError as exc:
        error = exc.message
    return new_record(DecodedPayload, (tuple(packets), error))


def _body_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from None


def _decode_v4_text(text: str, out: list[EioPacket]) -> str | None:
    if not text:
        return "empty payload"
    for index, record in enumerate(text.split(RECORD_SEPARATOR)):
        try:
            out.append(decode_text_packet(record, 4))
        except DecodeError as exc:
            return f"record {index}: {exc.message}"
    return None


def _is_v3_binary(body: bytes, content_type: str | None) -> bool:
    if content_type and "octet-stream" in content_type.lower():
        return True
    return bool(body) and body[0] in (0, 1)


def _decode_v3_binary(body: bytes, out: list[EioPacket]) -> str | None:
    """XHR2 payload: 0x00|0x01, one byte per decimal digit, 0xFF, then the packet."""
    pos = 0
    while pos < len(body):
        is_string = body[pos] == 0
        if body[pos] > 1:
            return f"byte {pos}: packet marker {body[pos]} is neither 0 nor 1"
        end = body.find(b"\xff", pos + 1, pos + 2 + MAX_LENGTH_DIGITS)
        # No slice to a -1 end: compiled (mypyc) code raises on it where CPython gives b"".
        digits = body[pos + 1 : end] if end != -1 else b""
        if not digits or any(d > 9 for d in digits):
            return f"byte {pos}: bad binary length header"
        length = int("".join(str(d) for d in digits))
        start = end + 1
        if start + length > len(body):
            return f"byte {pos}: length {length} runs past the end of the body"
        chunk = body[start : start + length]
        try:
            if is_string:
                out.append(decode_text_packet(_body_text(chunk), 3))
            else:
                out.append(decode_ws_message(chunk, True, 3))
        except DecodeError as exc:
            return f"byte {start}: {exc.message}"
        pos = start + length
    return None


_LENGTH_PREFIX = re.compile(rf"[0-9]{{1,{MAX_LENGTH_DIGITS}}}:")


def _decode_v3_text(text: str, out: list[EioPacket]) -> str | None:
    """`<len>:<packet>`... where len counts UTF-16 code units (JS string length)."""
    if not text:
        return "empty payload"
    pos = 0
    while pos < len(text):
        match = _LENGTH_PREFIX.match(text, pos)
        if match is None:
            return f"char {pos}: expected '<length>:'"
        length = int(match.group()[:-1])
        start = match.end()
        end = _packet_end(text, start, length)
        if end is None:
            return f"char {pos}: length {length} does not fit the body"
        if end > start:
            try:
                out.append(decode_text_packet(text[start:end], 3))
            except DecodeError as exc:
                return f"char {start}: {exc.message}"
        pos = end
    return None


def _packet_end(text: str, start: int, length: int) -> int | None:
    """End of a v3 packet. JS counts UTF-16 units; python-engineio 3 wrote UTF-8 bytes and
    read code points, so try each and keep the first that lands on a packet boundary."""
    for measure in (_utf16_len, _codepoint_len, _utf8_len):
        end = _advance(text, start, length, measure)
        if end is not None and (end == len(text) or _LENGTH_PREFIX.match(text, end)):
            return end
    return None


def _utf16_len(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _codepoint_len(char: str) -> int:
    return 1


def _utf8_len(char: str) -> int:
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def _advance(text: str, start: int, length: int, measure: Callable[[str], int]) -> int | None:
    pos, counted = start, 0
    while counted < length:
        if pos >= len(text):
            return None
        counted += measure(text[pos])
        pos += 1
    return pos if counted == length else None


_JSONP = re.compile(r'___eio\[\d+\]\((".*")\);?\s*$', re.DOTALL)


def _unwrap_jsonp(text: str, content_type: str | None) -> str:
    """v3 JSONP: GET answers `___eio[n]("<json string>");`, POSTs are form `d=<payload>`."""
    match = _JSONP.match(text)
    if match:
        try:
            inner = json.loads(match.group(1))
        except (ValueError, RecursionError):
            raise DecodeError("JSONP response does not hold a JSON string") from None
        if not isinstance(inner, str):
            raise DecodeError("JSONP response does not hold a JSON string")
        return inner
    if _is_form(content_type) or text.startswith("d="):
        for key, value in parse_qsl(text, keep_blank_values=True):
            if key == "d":
                return _unescape_jsonp_post(value)
    return text


def _is_form(content_type: str | None) -> bool:
    return content_type is not None and "form-urlencoded" in content_type.lower()


def _unescape_jsonp_post(data: str) -> str:
    """The JSONP client escapes newlines as `\\n` (and `\\n` as `\\\\n`); undo it."""
    return re.sub(r"(\\)?\\n", lambda m: m.group(0) if m.group(1) else "\n", data).replace(
        "\\\\n", "\\n"
    )


# ---------------------------------------------------------------------------- handshake


@dataclass(frozen=True, slots=True)
class Handshake:
    """The open packet's JSON. Timings are None only when a (non-standard) server omits them."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval_ms: int | None
    ping_timeout_ms: int | None
    max_payload: int | None


def parse_handshake(packet: EioPacket) -> Handshake:
    """Read an OPEN packet; DecodeError when it is not a JSON object with a string sid."""
    if packet.type is not EioPacketType.OPEN:
        raise DecodeError(f"expected an open packet, got {packet.type.name.lower()}")
    text = packet.data.decode("utf-8", "replace") if isinstance(packet.data, bytes) else packet.data
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("open packet is not valid JSON") from None
    if not isinstance(obj, dict):
        raise DecodeError("open packet JSON is not an object")
    sid = obj.get("sid")
    if not isinstance(sid, str) or not sid:
        raise DecodeError("open packet has no string sid")
    upgrades = obj.get("upgrades")
    return Handshake(
        sid=sid,
        upgrades=tuple(u for u in upgrades if isinstance(u, str))
        if isinstance(upgrades, list)
        else (),
        ping_interval_ms=_int_field(obj, "pingInterval"),
        ping_timeout_ms=_int_field(obj, "pingTimeout"),
        max_payload=_int_field(obj, "maxPayload"),
    )


def _int_field(obj: dict[str, object], name: str) -> int | None:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value)


# ---------------------------------------------------------------------------- HTTP errors

ErrorStyle = Literal["engineio-json", "python-string", "text", "proxy"]

ENGINEIO_ERROR_MESSAGES = {
    "Transport unknown": 0,
    "Session ID unknown": 1,
    "Bad handshake method": 2,
    "Bad request": 3,
    "Forbidden": 4,
    "Unsupported protocol version": 5,
}


@dataclass(frozen=True, slots=True)
class EioHttpError:
    """An error answer to an Engine.IO request, with who most likely wrote it."""

    status: int
    code: int | None
    message: str
    style: ErrorStyle


def parse_error_response(status: int, body: bytes, content_type: str | None) -> EioHttpError | None:
    """Classify an HTTP error body (protocol-facts §1.7); None for non-error statuses."""
    if status < 400:
        return None
    text = body.decode("utf-8", "replace").strip()
    ctype = (content_type or "").lower()
    if _looks_like_html(text, ctype):
        return EioHttpError(status, None, _html_title(text), "proxy")
    parsed = _json_or_none(text)
    if isinstance(parsed, dict):
        code, message = parsed.get("code"), parsed.get("message")
        if isinstance(code, int) and not isinstance(code, bool) and isinstance(message, str):
            return EioHttpError(status, code, message, "engineio-json")
        if isinstance(message, str):
            return EioHttpError(status, None, message, "python-string")
        return EioHttpError(status, None, text, "proxy")
    if isinstance(parsed, str):
        return EioHttpError(status, None, parsed, "python-string")
    if text in ENGINEIO_ERROR_MESSAGES:
        return EioHttpError(status, ENGINEIO_ERROR_MESSAGES[text], text, "text")
    if not text or status in (400, 403):
        return EioHttpError(status, None, text, "text")
    return EioHttpError(status, None, text[:200], "proxy")


def _json_or_none(text: str) -> object:
    if not text or text[0] not in '{"':
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _looks_like_html(text: str, content_type: str) -> bool:
    head = text[:200].lower()
    return head.startswith(("<!doctype", "<html")) or ("html" in content_type and "<" in head)


def _html_title(text: str) -> str:
    for tag in ("title", "h1"):
        match = re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", text, re.IGNORECASE | re.DOTALL)
        if match:
            return " ".join(match.group(1).split())[:200]
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:200]
