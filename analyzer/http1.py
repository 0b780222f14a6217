"""HTTP/1.1 over one reassembled TCP connection, sans-I/O.

`Http1Connection` is fed both directions' in-order bytes and pairs requests with responses
FIFO (keep-alive, pipelining) into `HttpExchange`. A 101 answer to a websocket upgrade
yields `WsOpened`; the bytes after the handshake are handed out by `take_upgraded_data()`
for the WebSocket layer. Nothing raises: bad bytes become `Diagnostic`s and stop, or
resynchronise, that direction.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from analyzer.core import Diagnostic, Endpoint, Severity, new_record
from analyzer.errors import DecodeError
from analyzer.net.events import Direction
from analyzer.transport import (
    AbortKind,
    Headers,
    HttpExchange,
    HttpRequest,
    HttpResponse,
    WsOpened,
    header,
)

HttpOut = HttpExchange | WsOpened | Diagnostic
UpgradedData = tuple[Direction, int, int, bytes]  # direction, ts_ns, stream offset, bytes

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP/1\.\d")
_STATUS_LINE = re.compile(r"HTTP/1\.\d (\d{3})(?: (.*))?")
_METHODS = rb"(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|TRACE|CONNECT) [^\s]"
_STATUS = rb"HTTP/1\.[01] \d{3}"
_RESYNC = {True: re.compile(rb"\n" + _METHODS), False: re.compile(rb"\n" + _STATUS)}
_RESYNC_AT_START = {True: re.compile(_METHODS), False: re.compile(_STATUS)}
_RESYNC_TAIL: Final = 16
_TOKEN_BYTES = frozenset(
    b"!#$%&'*+-.^_`|~0123456789" + bytes(range(65, 91)) + bytes(range(97, 123))
)
_USUAL_START: dict[bool, tuple[bytes, ...]] = {  # starts that surely pass _check_start
    True: (b"GET ", b"POST "),
    False: (b"HTTP/",),
}
_FRAMING_FIELDS = frozenset(
    ("content-length", "transfer-encoding", "content-encoding", "upgrade")
)  # the headers this parser looks up itself, indexed once per head
_CR_LF = b"\r\n"
# Header lines repeat from message to message (same client, same server): their parse
# is remembered, keyed by the text after the start line.
_HEAD_CACHE_SIZE: Final = 1024
_HEAD_CACHE_TEXT: Final = 4096  # longer header sections are not remembered
_head_lines: dict[str, tuple[Headers, dict[str, str]]] = {}


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Bounds on what one connection may make us hold (bomb and garbage guards)."""

    header_bytes: int = 64 * 1024
    body_bytes: int = 64 << 20
    inflate_bytes: int = 64 << 20


class _Head(NamedTuple):
    ts_ns: int
    start: tuple[str, str, str]  # method, target, "" | status, reason, ""
    headers: Headers
    fields: dict[str, str]  # lower-cased name -> first value, `_FRAMING_FIELDS` only; shared
    # with other heads through the parse cache, so never mutated


class _Phase(enum.Enum):
    IDLE = "idle"  # waiting for a start line
    BODY = "body"
    PAUSED = "paused"  # client sent an upgrade request; its next bytes may not be HTTP
    RESYNC = "resync"  # lost sync after a gap: looking for a start line
    DEAD = "dead"


_DEFAULT_LIMITS = HttpLimits()


# `_Pending` and `_Reader` are plain classes, not dataclasses: several are made per
# connection, and compiled (setup.py) a plain class's `__init__` is native code where a
# dataclass keeps its generated Python one.


class _Pending:
    """A request in the FIFO, waiting for its own completion and for its response."""

    __slots__ = ("head", "lost", "request", "response")

    def __init__(self, head: _Head) -> None:
        self.head = head
        self.request: HttpRequest | None = None
        self.response: HttpResponse | None = None
        self.lost = False  # its response disappeared in a capture gap


class _Reader:
    """One direction's buffer and parse position."""

    __slots__ = (
        "at_line_start", "base", "body", "buf", "direction", "first_ts", "head", "phase",
        "scan_from", "target", "ts_ns",
    )  # fmt: skip

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.buf = bytearray()
        self.base: int | None = None  # stream offset of buf[0]
        self.ts_ns = 0  # time of the latest bytes
        self.first_ts = 0  # time the first byte still in buf was seen
        self.phase = _Phase.IDLE
        self.head: _Head | None = None
        self.body: Body | None = None
        self.target: _Pending | None = None  # the request a response (or request body) is for
        self.scan_from = 0
        self.at_line_start = True

    @property
    def pos(self) -> int:
        """Stream offset of the first unparsed byte."""
        return self.base or 0

    @property
    def end(self) -> int:
        return self.pos + len(self.buf)

    def consume(self, n: int) -> None:
        del self.buf[:n]
        self.base = (self.base or 0) + n
        self.first_ts = self.ts_ns
        self.scan_from = 0


class Http1Connection:
    """HTTP/1.1 state of one TCP connection (both directions)."""

    def __init__(
        self,
        conn: int,
        originator: Endpoint,
        responder: Endpoint,
        *,
        client: Direction | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.conn = conn
        self._originator, self._responder = originator, responder
        self._client = client
        self._limits = limits or _DEFAULT_LIMITS
        self._orig = _Reader(Direction.ORIGINATOR)
        self._resp = _Reader(Direction.RESPONDER)
        self._readers = (self._orig, self._resp)  # the order both are driven in
        self._pending: deque[_Pending] = deque()
        self._upgraded = False
        self._upgraded_data: list[UpgradedData] = []
        self._abort: AbortKind | None = None  # set while finish() flushes

    @property
    def client(self) -> Direction | None:
        """The client's direction, once known."""
        return self._client

    @property
    def upgraded(self) -> bool:
        return self._upgraded

    @property
    def settled(self) -> bool:
        """Nothing pending or half read: `finish()` would have nothing to report."""
        orig, resp = self._orig, self._resp
        return not (self._pending or orig.head or orig.buf or resp.head or resp.buf)

    def take_upgraded_data(self) -> list[UpgradedData]:
        """Bytes that followed the websocket handshake, for the WebSocket layer."""
        data, self._upgraded_data = self._upgraded_data, []
        return data

    def feed(self, direction: Direction, ts_ns: int, data: bytes, offset: int) -> list[HttpOut]:
        out: list[HttpOut] = []
        if self._upgraded:
            if data:
                self._upgraded_data.append((direction, ts_ns, offset, data))
            return out
        if self._client is None and data:
            self._client = direction.other if data.startswith(b"HTTP/") else direction
        reader = self._orig if direction is Direction.ORIGINATOR else self._resp
        if reader.base is None:
            reader.base = offset
        end = reader.base + len(reader.buf)
        if offset > end:
            self._gap(reader, ts_ns, end, offset - end, out)
            end = reader.pos + len(reader.buf)
        if end > offset:
            data = data[end - offset :]
        if not data:
            return out
        if not reader.buf:
            if reader.phase is _Phase.IDLE and self._whole_message(reader, ts_ns, data, out):
                return out
            reader.first_ts = ts_ns
        reader.ts_ns = ts_ns
        reader.buf += data
        self._run(out)
        return out

    def gap(self, direction: Direction, ts_ns: int, offset: int, length: int) -> list[HttpOut]:
        """Bytes missing from the capture: skip them in a body, else resynchronise."""
        out: list[HttpOut] = []
        reader = self._reader(direction)
        if not self._upgraded and length > 0:
            reader.base = offset if reader.base is None else reader.base
            self._gap(reader, ts_ns, offset, length, out)
            self._run(out)
        return out

    def finish(self, ts_ns: int, abort: AbortKind, *, server_closed: bool = False) -> list[HttpOut]:
        """The connection ended: flush read-until-close bodies and unanswered requests."""
        out: list[HttpOut] = []
        if self._upgraded or self._client is None:
            return out
        self._abort = abort
        if self.settled:
            return out  # everything was answered: the usual end of a connection
        server, client = self._reader(self._client.other), self._reader(self._client)
        if server.phase is _Phase.BODY and server.body and server.body.framing is Framing.CLOSE:
            self._complete(server, out, truncated=not server_closed)
        self._abandon(server, out, truncated=True)
        self._abandon(client, out, truncated=True)
        while self._pending:
            pending = self._pending.popleft()
            request = pending.request or self._request(pending.head, b"", ts_ns, True)
            complete = pending.response is not None and not pending.response.body_truncated
            out.append(self._exchange(request, pending.response, None if complete else abort))
        return out

    # -- driving the readers -------------------------------------------------------------

    def _reader(self, direction: Direction) -> _Reader:
        return self._orig if direction is Direction.ORIGINATOR else self._resp

    def _run(self, out: list[HttpOut]) -> None:
        progress = True
        while progress and not self._upgraded:
            progress = False
            for reader in self._readers:
                # An empty reader outside a body has nothing to parse: skip the call.
                while (
                    not self._upgraded
                    and (reader.buf or reader.phase is _Phase.BODY)
                    and self._step(reader, out)
                ):
                    progress = True

    def _step(self, reader: _Reader, out: list[HttpOut]) -> bool:
        try:
            if reader.phase is _Phase.IDLE:
                return self._read_head(reader, out)
            if reader.phase is _Phase.BODY:
                return self._read_body(reader, out)
            if reader.phase is _Phase.RESYNC:
                return self._resync(reader, out)
        except DecodeError as err:
            self._stop(reader, "http-garbage", err.message, out)
        return False

    def _is_client(self, reader: _Reader) -> bool:
        return reader.direction is self._client

    def _read_head(self, reader: _Reader, out: list[HttpOut]) -> bool:
        buf = reader.buf
        if not buf:
            return False
        if buf[0] in _CR_LF:
            reader.consume(len(buf) - len(buf.lstrip(b"\r\n")))
            if not buf:
                return True
        is_client = reader.direction is self._client
        if not buf.startswith(_USUAL_START[is_client]):
            _check_start(bytes(buf[:8]), is_client)
        found = _head_end(buf, max(0, reader.scan_from - 3))
        limit = self._limits.header_bytes
        if found is None or found[1] > limit:
            if len(buf) > limit or found is not None:
                self._stop(reader, "http-header-too-large", f"header block over {limit}", out)
            reader.scan_from = len(buf)
            return False
        head = _parse_head(bytes(buf[: found[0]]), reader.first_ts, is_client)
        reader.consume(found[1])
        if is_client:
            self._start_request(reader, head)
        else:
            self._start_response(reader, head, out)
        if reader.phase is _Phase.BODY:  # read the body now, not on another trip through _step
            self._read_body(reader, out)
        return True

    def _start_request(self, reader: _Reader, head: _Head) -> None:
        body = Body(_framing(head.fields, Framing.NONE), _content_length(head.fields))
        pending = _Pending(head)
        self._pending.append(pending)
        reader.head, reader.target, reader.body = head, pending, body
        reader.phase = _Phase.BODY

    def _start_response(self, reader: _Reader, head: _Head, out: list[HttpOut]) -> None:
        status = int(head.start[0])
        if 100 <= status < 200 and status != 101:
            return  # interim response (100 Continue, 103 Early Hints)
        target = self._unanswered()
        if target is None:
            self._diag(reader, "http-unsolicited-response", "response without a request", out)
        method = target.head.start[0] if target else "GET"
        no_body = method == "HEAD" or status in (101, 204, 304)
        no_body = no_body or (method == "CONNECT" and 200 <= status < 300)
        framing = Framing.NONE if no_body else _framing(head.fields, Framing.CLOSE)
        reader.head, reader.target = head, target
        reader.body = Body(framing, _content_length(head.fields) if not no_body else 0)
        reader.phase = _Phase.BODY

    def _unanswered(self) -> _Pending | None:
        """The oldest request still waiting for its response."""
        for pending in self._pending:
            if pending.response is None and not pending.lost:
                return pending
        return None

    def _read_body(self, reader: _Reader, out: list[HttpOut]) -> bool:
        assert reader.body is not None
        used, done = reader.body.consume(reader.buf, self._limits)
        reader.consume(used)
        if done:
            self._complete(reader, out, truncated=False)
        return used > 0 or done

    # -- completing messages -------------------------------------------------------------

    def _whole_message(self, reader: _Reader, ts_ns: int, data: bytes, out: list[HttpOut]) -> bool:
        """The usual segment, exactly one message with a Content-Length (or no) body, parsed
        without the buffer and body machinery. False, having changed nothing, for any other
        bytes: the general state machine then reads them and reaches the same result."""
        is_client = reader.direction is self._client
        if reader.scan_from or not data.startswith(_USUAL_START[is_client]):
            return False
        found = _head_end(data, 0)
        if found is None or found[1] > self._limits.header_bytes:
            return False
        try:
            head = _parse_head(data[: found[0]], ts_ns, is_client)
            framing = _framing(head.fields, Framing.NONE if is_client else Framing.CLOSE)
            length = _content_length(head.fields)
        except DecodeError:
            return False
        if (
            framing is Framing.CHUNKED
            or framing is Framing.CLOSE
            or found[1] + length != len(data)
            or length > self._limits.body_bytes
            or "content-encoding" in head.fields
        ):
            return False
        target = _Pending(head) if is_client else self._plain_response_target(head)
        if target is None:
            return False
        if is_client:
            self._pending.append(target)
        reader.base = (reader.base or 0) + len(data)
        reader.first_ts = reader.ts_ns = ts_ns
        payload = data[found[1] :]
        self._finish(reader, head, head.headers, head.fields, payload, False, target, out)
        return True

    def _plain_response_target(self, head: _Head) -> _Pending | None:
        """The request a final response with an ordinary body answers; None otherwise."""
        status = int(head.start[0])
        target = self._unanswered()
        if status < 200 or status in (204, 304) or target is None:
            return None
        method = target.head.start[0]
        return None if method == "HEAD" or method == "CONNECT" else target

    def _complete(self, reader: _Reader, out: list[HttpOut], *, truncated: bool) -> None:
        head, body, target = reader.head, reader.body, reader.target
        reader.head, reader.body, reader.target = None, None, None
        reader.phase = _Phase.IDLE if reader.phase is not _Phase.DEAD else _Phase.DEAD
        if head is None or body is None:
            return
        headers, fields = head.headers, head.fields
        if body.trailers:
            headers += tuple(body.trailers)
            fields = _index(headers)
        payload = self._decoded(reader, fields, body, out)
        if body.seen > self._limits.body_bytes:
            kept = self._limits.body_bytes
            self._diag(reader, "http-body-limit", f"body of {body.seen} bytes: kept {kept}", out)
        truncated = truncated or body.truncated
        self._finish(reader, head, headers, fields, payload, truncated, target, out)

    def _finish(
        self,
        reader: _Reader,
        head: _Head,
        headers: Headers,
        fields: dict[str, str],
        payload: bytes,
        truncated: bool,
        target: _Pending | None,
        out: list[HttpOut],
    ) -> None:
        """Attach a complete message to its pending exchange, then emit what became ready."""
        is_client = reader.direction is self._client
        if is_client:
            request = self._request(head, payload, reader.ts_ns, truncated, headers)
            if target is not None:
                target.request = request
                if target.response is None and _wants_upgrade(fields):
                    reader.phase = _Phase.PAUSED
        else:
            response = new_record(HttpResponse, (
                head.ts_ns,
                int(head.start[0]),
                head.start[1],
                headers,
                payload,
                reader.ts_ns,
                truncated,
                reader.base or 0,  # reader.pos, without the property call
            ))  # fmt: skip
            if target is not None:
                target.response = response
        self._emit_ready(out)
        if not is_client and head.start[0] != "101":
            self._resume_client(reader, out)

    def _resume_client(self, server: _Reader, out: list[HttpOut]) -> None:
        """A refused upgrade: the client's following bytes are HTTP again, parse them first."""
        client = self._orig if server is self._resp else self._resp
        if client.phase is _Phase.PAUSED:
            client.phase = _Phase.IDLE
            while self._step(client, out):
                pass

    def _decoded(
        self, reader: _Reader, fields: dict[str, str], body: Body, out: list[HttpOut]
    ) -> bytes:
        raw = bytes(body.raw)
        codings = fields.get("content-encoding")
        if codings is None:
            return raw  # nothing to undo
        try:
            decoded, cut = decode_content(raw, codings, self._limits.inflate_bytes)
        except DecodeError as err:
            self._diag(reader, "http-content-decoding", err.message, out)
            return raw
        if cut:
            body.truncated = True
            limit = self._limits.inflate_bytes
            self._diag(reader, "http-inflate-limit", f"decoded body over {limit} bytes", out)
        return decoded

    def _request(
        self, head: _Head, body: bytes, end_ns: int, truncated: bool, headers: Headers = ()
    ) -> HttpRequest:
        method, target, _ = head.start
        return new_record(HttpRequest, (
            head.ts_ns, method, target, headers or head.headers, body, end_ns, truncated
        ))  # fmt: skip

    def _emit_ready(self, out: list[HttpOut]) -> None:
        queue = self._pending
        while queue and not self._upgraded:
            pending = queue[0]
            request, response = pending.request, pending.response
            if request is None or (response is None and not pending.lost):
                return
            queue.popleft()
            if response is not None and response.status == 101:
                self._switch(request, response, out)
                return
            error = "response lost in a capture gap" if pending.lost else None
            cut = response is None or response.body_truncated
            out.append(self._exchange(request, response, self._abort if cut else None, error))

    def _switch(self, request: HttpRequest, response: HttpResponse, out: list[HttpOut]) -> None:
        if not _wants_upgrade(_index(request.headers)):
            out.append(self._exchange(request, response, None))
            for reader in self._readers:
                self._stop(reader, "http-unknown-upgrade", "101 to a non-websocket upgrade", out)
            return
        client, server = self._sides()
        out.append(
            WsOpened(
                self.conn,
                client,
                server,
                response.ts_ns,
                request,
                response,
                header(response.headers, "sec-websocket-extensions"),
            )
        )
        self._upgraded = True
        for reader in self._readers:
            if reader.buf:
                chunk = (reader.direction, reader.ts_ns, reader.pos, bytes(reader.buf))
                self._upgraded_data.append(chunk)
            reader.buf.clear()

    def _exchange(
        self,
        request: HttpRequest,
        response: HttpResponse | None,
        abort: AbortKind | None,
        error: str | None = None,
    ) -> HttpExchange:
        client, server = self._sides()
        return new_record(
            HttpExchange, (self.conn, client, server, request, response, abort, error)
        )

    def _sides(self) -> tuple[Endpoint, Endpoint]:
        if self._client is Direction.RESPONDER:
            return self._responder, self._originator
        return self._originator, self._responder

    # -- gaps, garbage, resynchronisation ------------------------------------------------

    def _gap(
        self, reader: _Reader, ts_ns: int, offset: int, length: int, out: list[HttpOut]
    ) -> None:
        reader.ts_ns = ts_ns
        if reader.phase is _Phase.DEAD:
            reader.base = offset + length
            return
        self._diag(reader, "http-gap", f"{length} bytes missing at offset {offset}", out)
        in_body = reader.phase is _Phase.BODY and not reader.buf and reader.body is not None
        if in_body and reader.body is not None and reader.body.skip(length):
            reader.base = offset + length
            return
        self._abandon(reader, out, truncated=True)
        reader.buf.clear()
        reader.base = offset + length
        reader.phase, reader.at_line_start = _Phase.RESYNC, True

    def _abandon(self, reader: _Reader, out: list[HttpOut], *, truncated: bool) -> None:
        """Give up the message in progress, keeping what is known of it."""
        if reader.head is not None:
            self._complete(reader, out, truncated=truncated)
        elif reader.buf.strip(b"\r\n") and reader.phase is _Phase.IDLE:
            if not self._is_client(reader) and self._abort is None:
                target = self._unanswered()
                if target is not None:
                    target.lost = True
                    self._emit_ready(out)
            self._diag(reader, "http-partial-message", "message start lost", out)
            reader.buf.clear()

    def _resync(self, reader: _Reader, out: list[HttpOut]) -> bool:
        is_client = self._is_client(reader)
        if reader.at_line_start and _RESYNC_AT_START[is_client].match(reader.buf):
            start = 0
        else:
            match = _RESYNC[is_client].search(reader.buf)
            if match is None:
                drop = max(0, len(reader.buf) - _RESYNC_TAIL)
                reader.consume(drop)
                reader.at_line_start = reader.at_line_start and drop == 0
                return False
            start = match.start() + 1
        reader.consume(start)
        reader.phase = _Phase.IDLE
        self._diag(
            reader,
            "http-resync",
            f"resynchronised after skipping {start} bytes",
            out,
            Severity.INFO,
        )
        return True

    def _stop(self, reader: _Reader, code: str, message: str, out: list[HttpOut]) -> None:
        if reader.phase is not _Phase.DEAD:
            self._diag(
                reader, code, f"{message}; stopped parsing this direction", out, Severity.ERROR
            )
        reader.phase = _Phase.DEAD
        reader.consume(len(reader.buf))

    def _diag(
        self,
        reader: _Reader,
        code: str,
        message: str,
        out: list[HttpOut],
        severity: Severity = Severity.WARNING,
    ) -> None:
        side = "client" if self._is_client(reader) else "server"
        where = f"conn {self.conn} {side} offset {reader.pos}"
        out.append(Diagnostic(code, severity, where, message))


class Framing(enum.Enum):
    """How a message body's end is found."""

    NONE = "none"
    LENGTH = "length"  # Content-Length
    CHUNKED = "chunked"
    CLOSE = "close"  # read until the server closes


class _Chunk(enum.Enum):
    SIZE = "size"
    DATA = "data"
    DATA_END = "data-end"
    TRAILERS = "trailers"


@dataclass(slots=True)
class Body:
    """Framing state of one body; stores up to the body limit and keeps counting after."""

    framing: Framing
    remaining: int  # LENGTH: bytes still due; CHUNKED: bytes left in the current chunk
    raw: bytearray = field(default_factory=bytearray)
    seen: int = 0
    truncated: bool = False
    trailers: list[tuple[str, str]] = field(default_factory=list)
    chunk: _Chunk = _Chunk.SIZE

    def consume(self, buf: bytearray, limits: HttpLimits) -> tuple[int, bool]:
        """Take body bytes from the front of `buf`: (bytes used, body complete)."""
        framing = self.framing
        if framing is Framing.LENGTH:
            used = min(len(buf), self.remaining)
            self._store(buf, 0, used, limits)
            self.remaining -= used
            return used, self.remaining == 0
        if framing is Framing.NONE:
            return 0, True
        if framing is Framing.CLOSE:
            self._store(buf, 0, len(buf), limits)
            return len(buf), False
        return self._consume_chunked(buf, limits)

    def skip(self, length: int) -> bool:
        """Account for bytes lost in a gap if they surely lie inside this body."""
        inside_chunk = self.framing is Framing.CHUNKED and self.chunk is _Chunk.DATA
        if self.framing is Framing.CLOSE or (
            (self.framing is Framing.LENGTH or inside_chunk) and length <= self.remaining
        ):
            self.remaining = max(0, self.remaining - length)
            self.seen += length
            self.truncated = True
            return True
        return False

    def _store(self, buf: bytearray, start: int, end: int, limits: HttpLimits) -> None:
        room = limits.body_bytes - len(self.raw)
        if room > 0:
            self.raw += buf[start : start + min(room, end - start)]
        self.seen += end - start
        if self.seen > limits.body_bytes:
            self.truncated = True

    def _consume_chunked(self, buf: bytearray, limits: HttpLimits) -> tuple[int, bool]:
        used = 0
        while True:
            if self.chunk is _Chunk.DATA:
                take = min(len(buf) - used, self.remaining)
                self._store(buf, used, used + take, limits)
                used, self.remaining = used + take, self.remaining - take
                if self.remaining:
                    return used, False
                self.chunk = _Chunk.DATA_END
                continue
            eol = buf.find(b"\n", used)
            if eol < 0 or eol - used > limits.header_bytes:
                if len(buf) - used > limits.header_bytes:
                    raise DecodeError("chunk framing line too long")
                return used, False
            line = bytes(buf[used:eol]).rstrip(b"\r")
            used = eol + 1
            if self._chunk_line(line, limits):
                return used, True

    def _chunk_line(self, line: bytes, limits: HttpLimits) -> bool:
        """Handle one framing line of a chunked body; True when the body is complete."""
        if self.chunk is _Chunk.SIZE:
            size_text = line.split(b";", 1)[0].strip()
            try:
                self.remaining = int(size_text, 16)
            except ValueError:
                raise DecodeError(f"bad chunk size {size_text[:20]!r}") from None
            self.chunk = _Chunk.DATA if self.remaining else _Chunk.TRAILERS
        elif self.chunk is _Chunk.DATA_END:
            if line:
                raise DecodeError("chunk data longer than its size")
            self.chunk = _Chunk.SIZE
        elif not line:
            return True
        else:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or not _TOKEN.fullmatch(name):
                raise DecodeError(f"bad trailer line {line[:80]!r}")
            if len(self.trailers) * 64 > limits.header_bytes:
                raise DecodeError("too many trailers")
            self.trailers.append((name, value.strip(" \t")))
        return False


def decode_content(body: bytes, codings: str | None, limit: int) -> tuple[bytes, bool]:
    """Undo Content-Encoding with bounded output: (decoded, cut at `limit`)."""
    cut = False
    for coding in reversed([c.strip().lower() for c in (codings or "").split(",")]):
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            body, was_cut = _inflate(body, 16 + zlib.MAX_WBITS, limit)
        elif coding == "deflate":
            wbits = zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS  # zlib or raw
            body, was_cut = _inflate(body, wbits, limit)
        else:
            raise DecodeError(f"unsupported content-coding {coding!r}")
        cut = cut or was_cut
    return body, cut


def _inflate(data: bytes, wbits: int, limit: int) -> tuple[bytes, bool]:
    """Inflate one or more concatenated members, never producing more than `limit`."""
    parts: list[bytes] = []
    size = 0
    while data and size <= limit:
        inflater = zlib.decompressobj(wbits)
        try:
            part = inflater.decompress(data, limit - size + 1)
        except zlib.error as err:
            raise DecodeError(f"cannot inflate body: {err}") from None
        parts.append(part)
        size += len(part)
        data = inflater.unused_data if inflater.eof else b""
    decoded = b"".join(parts)
    return decoded[:limit], size > limit


# -- pure helpers --------------------------------------------------------------------------


def _check_start(prefix: bytes, is_client: bool) -> None:
    """Reject garbage early, without waiting for a whole header block."""
    if is_client:
        word = prefix.split(b" ", 1)[0]
        if not word or any(b not in _TOKEN_BYTES for b in word):
            raise DecodeError(f"not an HTTP request: {prefix!r}")
    elif not (prefix.startswith(b"HTTP/") or b"HTTP/".startswith(prefix)):
        raise DecodeError(f"not an HTTP response: {prefix!r}")


def _head_end(buf: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """(start, end) of the blank line closing a header block: what a search for
    `\\r?\\n\\r?\\n` from `start` finds, with two fast `find`s instead of the regex."""
    lf = buf.find(b"\n\n", start)
    crlf = buf.find(b"\n\r\n", start)
    if lf < 0 and crlf < 0:
        return None
    if lf >= 0 and (crlf < 0 or lf < crlf):
        newline, end = lf, lf + 2
    else:
        newline, end = crlf, crlf + 3
    return (newline - 1 if newline > start and buf[newline - 1] == 13 else newline), end


def _parse_head(block: bytes, ts_ns: int, is_request: bool) -> _Head:
    first, newline, rest = block.decode("latin-1").partition("\n")
    start = _start_line(first.rstrip("\r"), is_request)
    if not newline:
        return new_record(_Head, (ts_ns, start, (), {}))
    parsed = _head_lines.get(rest)
    if parsed is None:
        parsed = _parse_fields(rest)
        if len(rest) <= _HEAD_CACHE_TEXT:
            if len(_head_lines) >= _HEAD_CACHE_SIZE:
                _head_lines.clear()
            _head_lines[rest] = parsed
    return new_record(_Head, (ts_ns, start, *parsed))


def _parse_fields(text: str) -> tuple[Headers, dict[str, str]]:
    """The header lines after a start line: (headers, their framing fields)."""
    headers: list[tuple[str, str]] = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, sep, value = line.partition(":")
        if not sep or not _TOKEN.fullmatch(name):
            raise DecodeError(f"bad header line {line[:80]!r}")
        headers.append((name, value.strip(" \t")))
    return tuple(headers), _index(headers)


def _index(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased name -> first value, for the headers in `_FRAMING_FIELDS`."""
    fields: dict[str, str] = {}
    for name, value in headers:
        lower = name.lower()
        if lower in _FRAMING_FIELDS and lower not in fields:
            fields[lower] = value
    return fields


def _start_line(line: str, is_request: bool) -> tuple[str, str, str]:
    if is_request:
        match = _REQUEST_LINE.fullmatch(line)
        if match is None:
            raise DecodeError(f"bad request line {line[:80]!r}")
        return (match[1], match[2], "")
    match = _STATUS_LINE.fullmatch(line)
    if match is None:
        raise DecodeError(f"bad status line {line[:80]!r}")
    return (match[1], match[2] or "", "")


def _content_length(fields: dict[str, str]) -> int:
    value = fields.get("content-length")
    if value is None:
        return 0
    if _is_number(value):  # the usual single plain number
        return int(value)
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not _is_number(next(iter(values))):
        raise DecodeError(f"bad Content-Length {value[:40]!r}")
    return int(values.pop())


def _is_number(text: str) -> bool:
    """ASCII digits only: `isdigit` alone accepts "²", which `int` then rejects."""
    return text.isdigit() and text.isascii()


def _framing(fields: dict[str, str], unframed: Framing) -> Framing:
    """How a body ends: chunked, by Content-Length, else `unframed` (NONE for a request,
    CLOSE for a response)."""
    codings = fields.get("transfer-encoding")
    if codings and codings.lower().rsplit(",", 1)[-1].strip() == "chunked":
        return Framing.CHUNKED
    return Framing.LENGTH if "content-length" in fields else unframed


def _wants_upgrade(fields: dict[str, str]) -> bool:
    return "websocket" in (fields.get("upgrade") or "").lower()
