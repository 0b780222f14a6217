"""WebSocket (RFC 6455) frames of one direction, with permessage-deflate (RFC 7692), sans-I/O.

`WsParser` is fed one sender's bytes after the 101 handshake and yields whole messages
(fragments joined, masks removed, deflate undone), control frames and diagnostics. Lengths
and inflation are bounded so a hostile or corrupt capture cannot make us allocate much.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from analyzer.core import Diagnostic, Severity, Side, new_record
from analyzer.errors import DecodeError
from analyzer.transport import WsClose, WsControl, WsMessage, WsOpcode

WsOut = WsMessage | WsControl | WsClose | Diagnostic

_DEFLATE_TAIL = b"\x00\x00\xff\xff"
_WINDOW: Final = 1 << 15  # deflate's largest back-reference distance
_CONTROL_MAX: Final = 125
_KNOWN_OPCODES = frozenset(int(op) for op in WsOpcode)
_OPCODES = {int(op): op for op in WsOpcode}  # cheaper than calling WsOpcode(n)


@dataclass(frozen=True, slots=True)
class WsLimits:
    """Bounds on frames and messages (payload sizes, after and before inflation)."""

    frame_bytes: int = 64 << 20
    message_bytes: int = 64 << 20
    inflate_bytes: int = 64 << 20


_DEFAULT_LIMITS = WsLimits()


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """The permessage-deflate parameters the server accepted in its 101 response."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def no_context_takeover(self, sender: Side) -> bool:
        """Whether `sender` resets its compressor after every message."""
        if sender is Side.SERVER:
            return self.server_no_context_takeover
        return self.client_no_context_takeover


def parse_deflate_params(extensions: str | None) -> DeflateParams | None:
    """Parse a 101's Sec-WebSocket-Extensions; None when permessage-deflate is absent."""
    for extension in (extensions or "").split(","):
        name, *raw_params = (part.strip() for part in extension.split(";"))
        if name.lower() != "permessage-deflate":
            continue
        flags: dict[str, bool] = {}
        bits: dict[str, int] = {}
        for param in raw_params:
            key, _, value = (p.strip().strip('"') for p in param.partition("="))
            key = key.lower()
            if key.endswith("_no_context_takeover"):
                flags[key] = True
            elif key.endswith("_max_window_bits"):
                bits[key] = _window_bits(value)
            elif key:
                raise DecodeError(f"unknown permessage-deflate parameter {key!r}")
        return DeflateParams(
            server_no_context_takeover=flags.get("server_no_context_takeover", False),
            client_no_context_takeover=flags.get("client_no_context_takeover", False),
            server_max_window_bits=bits.get("server_max_window_bits", 15),
            client_max_window_bits=bits.get("client_max_window_bits", 15),
        )
    return None


def _window_bits(value: str) -> int:
    if not value:
        return 15
    if not (value.isdigit() and value.isascii()) or not 8 <= int(value) <= 15:  # not "²"
        raise DecodeError(f"bad max_window_bits {value[:10]!r}")
    return int(value)


class _FrameHeader(NamedTuple):  # a tuple: one is built per frame
    fin: bool
    rsv: int  # the three RSV bits, RSV1 = 4
    opcode: int
    mask: bytes | None
    length: int
    size: int  # header bytes

    @property
    def is_control(self) -> bool:
        return self.opcode >= 8


def _parse_header(buf: bytearray) -> _FrameHeader | None:
    """The frame header at the front of `buf`, or None if it is not all there yet."""
    if len(buf) < 2:
        return None
    first, second = buf[0], buf[1]
    length, size = second & 0x7F, 2
    if length >= 126:
        width = 2 if length == 126 else 8
        if len(buf) < 2 + width:
            return None
        length, size = int.from_bytes(buf[2 : 2 + width], "big"), 2 + width
        if length >= 1 << 63:
            raise DecodeError("64-bit frame length with its top bit set")
    mask = None
    if second & 0x80:
        if len(buf) < size + 4:
            return None
        mask, size = bytes(buf[size : size + 4]), size + 4
    fin, opcode = bool(first & 0x80), first & 0x0F
    return new_record(_FrameHeader, (fin, (first >> 4) & 7, opcode, mask, length, size))


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR the payload with the repeating 4-byte key (one big-integer XOR: fast)."""
    if not payload:
        return payload
    key = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")
    return value.to_bytes(len(payload), "big")


@dataclass(slots=True)
class _Message:
    """A data message whose final fragment has not arrived yet."""

    opcode: WsOpcode
    compressed: bool
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    wire_len: int = 0
    oversized: bool = False


class WsParser:
    """One direction of a WebSocket connection: the frames `side` sent."""

    def __init__(
        self,
        conn: int,
        side: Side,
        *,
        deflate: DeflateParams | None = None,
        limits: WsLimits | None = None,
    ) -> None:
        self.conn = conn
        self.side = side
        self._masked = side is Side.CLIENT  # client frames must be masked, server frames not
        self._deflate = deflate
        self._limits = limits or _DEFAULT_LIMITS
        self._buf = bytearray()
        self._base: int | None = None  # stream offset of _buf[0]
        self._ts_ns = 0
        self._dead = False
        self._skip = 0  # payload bytes of an oversized frame still to discard
        self._message: _Message | None = None
        self._inflater: zlib._Decompress | None = None
        self._window = b""  # history for a new inflater when a sender ended its stream
        self._warned: set[str] = set()

    def feed(self, ts_ns: int, data: bytes, offset: int) -> list[WsOut]:
        out: list[WsOut] = []
        if self._base is None:
            self._base = offset
        end = self._base + len(self._buf)
        if offset > end:
            out += self.gap(ts_ns, end, offset - end)
        data = data[max(0, end - offset) :]
        if self._dead or not data:
            return out
        self._ts_ns = ts_ns
        self._buf += data
        try:
            while self._buf and not self._dead and self._step(out):
                pass
        except DecodeError as err:
            self._stop("ws-protocol-error", err.message, out)
        return out

    def gap(self, ts_ns: int, offset: int, length: int) -> list[WsOut]:
        """Bytes missing from the capture: frame boundaries are lost unless inside a skip."""
        out: list[WsOut] = []
        self._ts_ns = ts_ns
        if self._base is None:
            self._base = offset
        if not self._buf and length <= self._skip:
            self._skip -= length
            self._base = offset + length
        elif length > 0:
            self._stop("ws-gap", f"{length} bytes missing from the capture", out)
        return out

    def finish(self) -> list[WsOut]:
        """The connection ended: report a message or frame cut short."""
        out: list[WsOut] = []
        if not self._dead and (self._buf or self._message or self._skip):
            self._diag(
                "ws-incomplete", "connection ended inside a frame or message", out, Severity.INFO
            )
        self._dead = True
        return out

    # -- frames ------------------------------------------------------------------------

    def _step(self, out: list[WsOut]) -> bool:
        if self._skip:
            used = min(self._skip, len(self._buf))
            self._consume(used)
            self._skip -= used
            return used > 0
        header = _parse_header(self._buf)
        if header is None:
            return False
        if header.opcode not in _KNOWN_OPCODES:
            self._stop("ws-bad-opcode", f"unknown opcode {header.opcode}", out)
            return False
        if header.length > self._limits.frame_bytes:
            self._diag("ws-frame-too-large", f"frame of {header.length} bytes skipped", out)
            self._consume(header.size)
            self._skip = header.length
            if not header.is_control:
                self._message = None
            return True
        total = header.size + header.length
        buf = self._buf
        if len(buf) < total:
            return False
        payload = bytes(buf[header.size : total])
        del buf[:total]
        self._base = (self._base or 0) + total
        mask = header.mask
        if (mask is not None) is not self._masked or header.rsv & 3:  # skip the call if clean
            self._check_mask(header, out)
        if mask is not None:
            payload = unmask(payload, mask)
        if header.opcode >= 8:
            self._on_control(header, payload, out)
        else:
            self._on_data(header, payload, total, out)
        return True

    def _consume(self, n: int) -> None:
        del self._buf[:n]
        self._base = (self._base or 0) + n

    def _check_mask(self, header: _FrameHeader, out: list[WsOut]) -> None:
        if (header.mask is None) == (self.side is Side.CLIENT):
            state = "unmasked" if header.mask is None else "masked"
            self._warn_once("ws-mask", f"{self.side.value} sent a {state} frame", out)
        if header.rsv & 3:
            self._warn_once("ws-rsv", "RSV2/RSV3 set without an extension defining them", out)

    def _on_control(self, header: _FrameHeader, payload: bytes, out: list[WsOut]) -> None:
        if not header.fin or header.length > _CONTROL_MAX or header.rsv:
            self._diag("ws-bad-control", "control frame fragmented, too long or with RSV", out)
        opcode = WsOpcode(header.opcode)
        if opcode is not WsOpcode.CLOSE:
            out.append(WsControl(self.conn, self.side, self._ts_ns, opcode, payload))
            return
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        if len(payload) == 1:
            self._diag("ws-bad-close", "close frame body of one byte", out)
        reason = payload[2:].decode("utf-8", errors="replace")
        out.append(WsClose(self.conn, self.side, self._ts_ns, code, reason, self._base or 0))

    def _on_data(self, header: _FrameHeader, payload: bytes, wire: int, out: list[WsOut]) -> None:
        if header.fin and header.opcode and self._message is None:
            # A whole message in one frame, the usual case: no fragments to gather.
            compressed = bool(header.rsv & 4)
            if compressed and self._deflate is None:
                self._warn_once("ws-unexpected-rsv1", "RSV1 without negotiated deflate", out)
            if len(payload) > self._limits.message_bytes:
                self._diag("ws-message-too-large", f"message over {len(payload)} bytes", out)
            else:
                self._deliver(_OPCODES[header.opcode], compressed, payload, wire, out)
            return
        if header.opcode == WsOpcode.CONTINUATION:
            if self._message is None:
                self._diag("ws-orphan-continuation", "continuation without a message", out)
                return
            if header.rsv & 4:
                self._diag("ws-bad-rsv1", "RSV1 set on a continuation frame", out)
        else:
            if self._message is not None:
                self._diag("ws-unfinished-message", "new message before the last one ended", out)
            compressed = bool(header.rsv & 4)
            if compressed and self._deflate is None:
                self._warn_once("ws-unexpected-rsv1", "RSV1 without negotiated deflate", out)
            self._message = _Message(_OPCODES[header.opcode], compressed)
        message = self._message
        message.size += len(payload)
        message.wire_len += wire
        if message.size > self._limits.message_bytes:
            if not message.oversized:
                self._diag("ws-message-too-large", f"message over {message.size} bytes", out)
            message.oversized, message.parts = True, []
        else:
            message.parts.append(payload)
        if header.fin:
            self._message = None
            if not message.oversized:
                payload = b"".join(message.parts)
                self._deliver(message.opcode, message.compressed, payload, message.wire_len, out)

    def _deliver(
        self, opcode: WsOpcode, compressed: bool, payload: bytes, wire_len: int, out: list[WsOut]
    ) -> None:
        if compressed:
            inflated = self._inflate(payload, out)
            if inflated is None:
                return
            payload = inflated
        if opcode is WsOpcode.TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                self._diag(
                    "ws-invalid-utf8", "text message is not valid UTF-8 (kept)", out, Severity.INFO
                )
        out.append(new_record(WsMessage, (
            self.conn, self.side, self._ts_ns, opcode, payload, compressed, wire_len,
            self._base or 0,
        )))  # fmt: skip

    # -- permessage-deflate ------------------------------------------------------------

    def _inflate(self, payload: bytes, out: list[WsOut]) -> bytes | None:
        """Raw-inflate one message, keeping the context unless the sender resets it."""
        limit = self._limits.inflate_bytes
        inflater = self._inflater or self._new_inflater()
        try:
            data = inflater.decompress(payload + _DEFLATE_TAIL, limit + 1)
        except zlib.error as err:
            self._inflater, self._window = None, b""
            self._diag("ws-inflate-error", f"cannot inflate message: {err}", out)
            return None
        if len(data) > limit:
            self._inflater, self._window = None, b""
            self._diag("ws-inflate-limit", f"message inflates past {limit} bytes", out)
            return None
        params = self._deflate or DeflateParams()
        if params.no_context_takeover(self.side):
            self._inflater = None
            return data
        # Keep the history too: a sender that ends its deflate stream (BFINAL) still
        # refers back to earlier messages, and a fresh inflater needs that window.
        self._window = (self._window + data)[-_WINDOW:]
        self._inflater = None if inflater.eof else inflater
        return data

    def _new_inflater(self) -> zlib._Decompress:
        if self._window:
            return zlib.decompressobj(-zlib.MAX_WBITS, zdict=self._window)
        return zlib.decompressobj(-zlib.MAX_WBITS)

    # -- diagnostics -------------------------------------------------------------------

    def _stop(self, code: str, message: str, out: list[WsOut]) -> None:
        if not self._dead:
            self._diag(code, f"{message}; stopped parsing this direction", out, Severity.ERROR)
        self._dead = True
        self._buf.clear()
        self._message = None

    def _warn_once(self, code: str, message: str, out: list[WsOut]) -> None:
        if code not in self._warned:
            self._warned.add(code)
            self._diag(code, message, out)

    def _diag(
        self, code: str, message: str, out: list[WsOut], severity: Severity = Severity.WARNING
    ) -> None:
        where = f"conn {self.conn} {self.side.value} ws offset {self._base or 0}"
        out.append(Diagnostic(code, severity, where, message))
