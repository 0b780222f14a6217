"""Socket.IO protocol v4 (socket.io 2.x) and v5 (socket.io >= 3) packet codec.

Follows socket.io-parser's string grammar `<type>[<attachments>-][<nsp>,][<ackId>][<JSON>]`
and, for v5, its payload validation, so a packet we reject is one the real decoder would
reject too (which on a Node peer ends the connection with `parse error`/`forced close`).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from analyzer.errors import DecodeError

DEFAULT_MAX_LENGTH = 16 * 1024 * 1024  # characters of one packet we are willing to parse
DEFAULT_MAX_DEPTH = 200  # JSON nesting of one payload; deeper is hostile, not an app
DEFAULT_MAX_ATTACHMENTS = 10  # socket.io-parser's maxAttachments default
MAX_ACK_ID_DIGITS = 20
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


class SioPacketType(enum.IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4  # called ERROR in protocol v4
    BINARY_EVENT = 5
    BINARY_ACK = 6


BINARY_TYPES = (SioPacketType.BINARY_EVENT, SioPacketType.BINARY_ACK)
_TYPE_BY_CHAR = {str(int(kind)): kind for kind in SioPacketType}  # no enum call per packet


@dataclass(frozen=True, slots=True)
class SioPacket:
    """A decoded packet. `data` is the JSON payload (None if absent); for binary packets it
    holds placeholders until `BinaryAssembler` swaps in the attachments' bytes. `query` is
    the `?...` part a v4 client appends to the namespace of a CONNECT."""

    type: SioPacketType
    nsp: str
    ack_id: int | None
    data: Any  # a JSON value (Any, not object: mypyc cannot compile `object` fields)
    attachments: int
    query: str | None
    raw: str


def decode_sio(
    text: str,
    protocol: int,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> SioPacket:
    """Decode one Socket.IO packet (the data of an Engine.IO message).

    `protocol` is 4 (socket.io 2.x, EIO3) or 5 (socket.io >= 3, EIO4). Payloads nested
    deeper than `max_depth` are refused: later recursive walks must not blow the stack.
    """
    if len(text) > max_length:
        raise DecodeError(f"packet of {len(text)} chars exceeds the {max_length} limit")
    if not text:
        raise DecodeError("empty Socket.IO packet")
    ptype = _TYPE_BY_CHAR.get(text[0])
    if ptype is None:
        raise DecodeError(f"unknown Socket.IO packet type {text[0]!r}")
    pos = 1
    attachments = 0
    if ptype in BINARY_TYPES:
        attachments, pos = _read_attachments(text, pos)
    nsp, pos = _read_namespace(text, pos)
    ack_id, pos = _read_ack_id(text, pos)
    data = _read_payload(text[pos:], ptype, protocol) if pos < len(text) else None
    if text.count("[") + text.count("{") > max_depth and _depth(data) > max_depth:
        raise DecodeError(f"payload JSON nested deeper than {max_depth}")
    query = None
    if protocol < 5 and "?" in nsp:
        nsp, query = nsp.split("?", 1)
    return SioPacket(ptype, nsp, ack_id, data, attachments, query, text)


def _depth(value: object) -> int:
    """Nesting depth of decoded JSON, without recursion (the value may be hostile)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
    return deepest


def _read_attachments(text: str, pos: int) -> tuple[int, int]:
    dash = text.find("-", pos)
    digits = text[pos:dash] if dash != -1 else ""
    if dash == -1 or (digits and not (digits.isascii() and digits.isdigit())) or len(digits) > 9:
        raise DecodeError("illegal attachments count")
    return int(digits or "0"), dash + 1


def _read_namespace(text: str, pos: int) -> tuple[str, int]:
    """A namespace starts with `/` and runs to the next comma (or the end)."""
    if not text.startswith("/", pos):
        return "/", pos
    comma = text.find(",", pos)
    if comma == -1:
        return text[pos:], len(text)
    return text[pos:comma], comma + 1


def _read_ack_id(text: str, pos: int) -> tuple[int | None, int]:
    end = pos
    while end < len(text) and "0" <= text[end] <= "9":
        end += 1
    if end == pos:
        return None, pos
    if end - pos > MAX_ACK_ID_DIGITS:
        raise DecodeError(f"ack id of {end - pos} digits is not a number")
    return int(text[pos:end]), end


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# Built once: json.loads with any keyword argument builds a new decoder on every call.
_JSON_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _read_payload(body: str, ptype: SioPacketType, protocol: int) -> object:
    try:
        if body.startswith("\ufeff"):  # json.loads refuses a BOM; let it word the error
            data = json.loads(body, parse_constant=_reject_constant)
        else:
            data = _JSON_DECODER.decode(body)
    except RecursionError:
        raise DecodeError("payload JSON is nested too deeply") from None
    except ValueError as exc:
        raise DecodeError(f"payload is not valid JSON: {exc}") from None
    if protocol >= 5:
        problem = _payload_problem(ptype, data)
        if problem:
            raise DecodeError(f"invalid payload for {ptype.name}: {problem}")
    return data


def _payload_problem(ptype: SioPacketType, data: object) -> str | None:
    """socket.io-parser v5 `isPayloadValid`, with the reason spelled out."""
    if ptype is SioPacketType.CONNECT:
        return None if isinstance(data, dict) else "must be an object"
    if ptype is SioPacketType.DISCONNECT:
        return "must have no payload"
    if ptype is SioPacketType.CONNECT_ERROR:
        return None if isinstance(data, str | dict) else "must be a string or an object"
    if ptype in (SioPacketType.ACK, SioPacketType.BINARY_ACK):
        return None if isinstance(data, list) else "must be an array"
    if not isinstance(data, list) or not data:
        return "must be a non-empty array"
    first = data[0]
    if isinstance(first, str):
        return f"reserved event name {first!r}" if first in RESERVED_EVENTS else None
    if isinstance(first, int | float) and not isinstance(first, bool):
        return None
    return "event name must be a string or a number"


# ---------------------------------------------------------------------------- binary


class BinaryAssembler:
    """Joins a BINARY_EVENT/BINARY_ACK with the attachments that follow it.

    Stateful like socket.io-parser's BinaryReconstructor; one per direction of a session.
    After an error the pending packet is dropped so decoding can go on.
    """

    def __init__(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> None:
        self.max_attachments = max_attachments
        self._pending: SioPacket | None = None
        self._buffers: list[bytes] = []

    @property
    def awaiting(self) -> int:
        """Attachments still expected (0 when idle)."""
        return self._pending.attachments - len(self._buffers) if self._pending else 0

    def add_packet(self, packet: SioPacket) -> SioPacket | None:
        """A text packet: returned when complete, None while attachments are awaited."""
        if self._pending is not None:
            self.reset()
            raise DecodeError("got plaintext data when reconstructing a packet")
        if packet.type not in BINARY_TYPES or packet.attachments == 0:
            return packet
        if packet.attachments > self.max_attachments:
            raise DecodeError(
                f"too many attachments ({packet.attachments} > {self.max_attachments})"
            )
        self._pending = packet
        return None

    def add_attachment(self, data: bytes) -> SioPacket | None:
        """A binary message: returns the packet once its last attachment arrived."""
        if self._pending is None:
            raise DecodeError("got binary data when not reconstructing a packet")
        self._buffers.append(data)
        if len(self._buffers) < self._pending.attachments:
            return None
        packet, buffers = self._pending, self._buffers
        self.reset()
        try:
            data_out = _fill_placeholders(packet.data, buffers)
        except RecursionError:
            raise DecodeError("binary packet is nested too deeply") from None
        return replace(packet, data=data_out)

    def reset(self) -> None:
        self._pending = None
        self._buffers = []


def _fill_placeholders(value: object, buffers: list[bytes]) -> object:
    if isinstance(value, list):
        return [_fill_placeholders(item, buffers) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("_placeholder") is True:
        num = value.get("num")
        if isinstance(num, int) and not isinstance(num, bool) and 0 <= num < len(buffers):
            return buffers[num]
        raise DecodeError("illegal attachments: bad placeholder index")
    return {key: _fill_placeholders(item, buffers) for key, item in value.items()}


# ---------------------------------------------------------------------------- helpers


def event_name(packet: SioPacket) -> str | None:
    """Name of an EVENT (numbers, allowed by v5, are given as text)."""
    if packet.type not in (SioPacketType.EVENT, SioPacketType.BINARY_EVENT):
        return None
    if not isinstance(packet.data, list) or not packet.data:
        return None
    first = packet.data[0]
    if isinstance(first, str):
        return first
    if isinstance(first, int | float) and not isinstance(first, bool):
        return str(first)
    return None


class ConnectInfo(NamedTuple):
    """What a CONNECT says. Server acks carry `sid` (and `pid` with connection-state
    recovery); a reconnecting client sends `pid` + `offset`; anything else is auth."""

    sid: str | None
    pid: str | None
    offset: str | None
    auth: dict[str, object] | None


def connect_info(packet: SioPacket) -> ConnectInfo:
    """Fields of a CONNECT packet of either direction (all None for other packets)."""
    data = packet.data
    if packet.type is not SioPacketType.CONNECT or not isinstance(data, dict):
        return ConnectInfo(None, None, None, None)
    rest = {k: v for k, v in data.items() if k not in ("sid", "pid", "offset")}
    return ConnectInfo(
        sid=_str_or_none(data.get("sid")),
        pid=_str_or_none(data.get("pid")),
        offset=_str_or_none(data.get("offset")),
        auth=rest or None,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def connect_error_message(packet: SioPacket) -> str:
    """The human message of a CONNECT_ERROR (v5 `{"message": ...}`, v4 plain string)."""
    data = packet.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        message = data.get("message")
        if isinstance(message, str):
            return message
    if data is None:
        return ""
    try:
        return json.dumps(data, default=repr)[:500]
    except (RecursionError, ValueError):
        return "<unprintable error payload>"
