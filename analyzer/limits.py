"""Bounds that keep hostile input from exhausting memory or time.

One record holds every bound so the CLI can expose them all and tests can shrink them;
each layer still takes its own small limits record (`HttpLimits`, `WsLimits`), built here.
Defaults are generous for real captures and small enough that one hostile connection
cannot take the machine down.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from analyzer.errors import UsageError
from analyzer.http1 import HttpLimits
from analyzer.websocket import WsLimits

MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep hostile input from exhausting memory; overridable on the CLI."""

    max_buffer_per_connection: int = 8 * MIB  # out-of-order TCP bytes held per connection
    max_open_connections: int = 1_000_000  # TCP connections tracked at once
    http_header_bytes: int = 64 * 1024  # one HTTP header block (and one chunk-size line)
    http_body_bytes: int = 64 * MIB  # body bytes stored per message (counting goes on)
    http_inflate_bytes: int = 64 * MIB  # decoded size of a gzip/deflate body
    ws_frame_bytes: int = 64 * MIB  # declared payload length of one websocket frame
    ws_message_bytes: int = 64 * MIB  # one reassembled websocket message
    ws_inflate_bytes: int = 64 * MIB  # one permessage-deflate message after inflation
    sio_text_chars: int = 16 * MIB  # one Socket.IO packet's text
    json_depth: int = 200  # nesting of JSON in Socket.IO events and handshakes
    har_bytes: int = 1 << 30  # size of a HAR file (it is read whole)
    open_sessions: int = 1_000_000  # Engine.IO sessions kept open at once
    timeline_events: int = 20_000  # timeline lines kept per session

    def http(self) -> HttpLimits:
        """The HTTP/1.1 layer's view of these bounds."""
        return HttpLimits(
            header_bytes=self.http_header_bytes,
            body_bytes=self.http_body_bytes,
            inflate_bytes=self.http_inflate_bytes,
        )

    def websocket(self) -> WsLimits:
        """The WebSocket layer's view of these bounds."""
        return WsLimits(
            frame_bytes=self.ws_frame_bytes,
            message_bytes=self.ws_message_bytes,
            inflate_bytes=self.ws_inflate_bytes,
        )


def limit_names() -> list[str]:
    """Every bound's field name, in declaration order (the CLI makes a flag of each)."""
    return [f.name for f in fields(Limits)]


def limits_from(overrides: dict[str, int | None]) -> Limits:
    """Defaults with the given fields replaced; None keeps the default. Rejects values < 1."""
    chosen = {name: value for name, value in overrides.items() if value is not None}
    unknown = sorted(set(chosen) - set(limit_names()))
    if unknown:
        raise UsageError(f"unknown limit {unknown[0]!r}")
    for name, value in chosen.items():
        if value < 1:
            raise UsageError(f"limit {name} must be at least 1, got {value}")
    return Limits(**chosen)


def parse_size(text: str) -> int:
    """`1000`, `64k`, `8M`, `1G` (binary multiples) -> int; UsageError otherwise."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    body = text.strip().lower().removesuffix("b").removesuffix("i")
    scale = units.get(body[-1:], 1)
    digits = body[:-1] if body[-1:] in units else body
    if not digits.isdigit():
        raise UsageError(f"not a size: {text!r} (use e.g. 4096, 64k, 8M, 1G)")
    return int(digits) * scale
