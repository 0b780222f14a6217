"""HTTP/1.1 parser: framing, pairing, decoding, limits, upgrades, gaps and garbage."""

from __future__ import annotations

import gzip
import itertools
import zlib
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.core import Diagnostic, Endpoint
from analyzer.http1 import Http1Connection, HttpLimits, HttpOut, decode_content
from analyzer.net.events import Direction
from analyzer.transport import AbortKind, HttpExchange, HttpResponse, WsOpened

ORIG, RESP = Direction.ORIGINATOR, Direction.RESPONDER
CLIENT_EP = Endpoint("10.0.0.1", 50000)
SERVER_EP = Endpoint("10.0.0.2", 3000)


def new_conn(limits: HttpLimits | None = None) -> Http1Connection:
    return Http1Connection(7, CLIENT_EP, SERVER_EP, limits=limits)


def exchanges(items: list[HttpOut]) -> list[HttpExchange]:
    return [i for i in items if isinstance(i, HttpExchange)]


def codes(items: list[HttpOut]) -> list[str]:
    return [i.code for i in items if isinstance(i, Diagnostic)]


def response(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_pairs_in_order_with_times_and_offsets() -> None:
    conn = new_conn()
    req1 = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    req2 = b"POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    resp1, resp2 = response(b"one"), response(b"two!")
    out = conn.feed(ORIG, 100, req1, 0)
    out += conn.feed(RESP, 200, resp1, 0)
    out += conn.feed(ORIG, 300, req2, len(req1))
    out += conn.feed(RESP, 400, resp2, len(resp1))
    got = exchanges(out)
    assert [(x.request.method, x.request.target, x.request.body) for x in got] == [
        ("GET", "/a", b""),
        ("POST", "/b", b"hello"),
    ]
    assert [x.response.body for x in got if x.response] == [b"one", b"two!"]
    second = got[1].response
    assert second is not None
    assert (second.ts_ns, second.end_ns, second.end_offset) == (400, 400, len(resp1) + len(resp2))
    assert got[0].client == CLIENT_EP and got[0].server == SERVER_EP
    assert conn.client is ORIG


def test_pipelined_requests_match_responses_fifo() -> None:
    conn = new_conn()
    reqs = b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"
    assert exchanges(conn.feed(ORIG, 1, reqs, 0)) == []
    out = conn.feed(RESP, 2, response(b"r1") + response(b"r2"), 0)
    out += conn.feed(RESP, 3, response(b"r3"), 2 * len(response(b"r1")))
    pairs = [(x.request.target, x.response.body if x.response else None) for x in exchanges(out)]
    assert pairs == [("/1", b"r1"), ("/2", b"r2"), ("/3", b"r3")]


def test_chunked_response_with_trailers_and_chunked_request() -> None:
    conn = new_conn()
    conn.feed(
        ORIG,
        1,
        b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n",
        0,
    )
    body = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n!\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    [exchange] = exchanges(conn.feed(RESP, 2, body, 0))
    assert exchange.request.body == b"abcdef"
    assert exchange.response is not None
    assert exchange.response.body == b"hello!"
    assert ("X-Trailer", "yes") in exchange.response.headers


def test_content_encodings_are_undone() -> None:
    raw_deflate = zlib.compressobj(wbits=-15)
    raw = raw_deflate.compress(b"raw deflate") + raw_deflate.flush()
    assert decode_content(gzip.compress(b"gz"), "gzip", 100) == (b"gz", False)
    assert decode_content(gzip.compress(b"xg"), "x-gzip", 100) == (b"xg", False)
    assert decode_content(zlib.compress(b"zl"), "deflate", 100) == (b"zl", False)
    assert decode_content(raw, "deflate", 100) == (b"raw deflate", False)
    assert decode_content(gzip.compress(gzip.compress(b"2x")), "gzip, gzip", 100) == (b"2x", False)


def test_gzip_response_body_decoded() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /p HTTP/1.1\r\nAccept-Encoding: gzip\r\n\r\n", 0)
    body = response(gzip.compress(b"4hello"), "Content-Encoding: gzip")
    [x] = exchanges(conn.feed(RESP, 2, body, 0))
    assert x.response is not None and x.response.body == b"4hello"
    assert not x.response.body_truncated


def test_gzip_bomb_is_cut_at_default_limit() -> None:
    bomb = gzip.compress(b"\0" * (80 << 20), compresslevel=9)
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /bomb HTTP/1.1\r\n\r\n", 0)
    out = conn.feed(RESP, 2, response(bomb, "Content-Encoding: gzip"), 0)
    [x] = exchanges(out)
    assert x.response is not None
    assert x.response.body_truncated
    assert len(x.response.body) == 64 << 20
    assert "http-inflate-limit" in codes(out)


def test_body_limit_stops_storing_but_keeps_framing() -> None:
    conn = new_conn(limits=HttpLimits(body_bytes=10))
    conn.feed(ORIG, 1, b"GET /big HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n", 0)
    out = conn.feed(RESP, 2, response(b"x" * 100) + response(b"small"), 0)
    first, second = exchanges(out)
    assert first.response is not None and second.response is not None
    assert (first.response.body, first.response.body_truncated) == (b"x" * 10, True)
    assert (second.response.body, second.response.body_truncated) == (b"small", False)


def test_no_body_for_head_204_304_and_interim_100() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"HEAD /h HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\nGET /m HTTP/1.1\r\n\r\n", 0)
    stream = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n"
    )
    got = exchanges(conn.feed(RESP, 2, stream, 0))
    assert [x.response.status for x in got if x.response] == [200, 204, 304]
    assert all(x.response is not None and x.response.body == b"" for x in got)


def test_read_until_close_response() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /old HTTP/1.1\r\n\r\n", 0)
    assert exchanges(conn.feed(RESP, 2, b"HTTP/1.1 200 OK\r\n\r\nuntil ", 0)) == []
    conn.feed(RESP, 3, b"close", 25)
    [x] = exchanges(conn.finish(4, AbortKind.SERVER_CLOSED, server_closed=True))
    assert x.response is not None and x.response.body == b"until close"
    assert (x.abort, x.response.body_truncated, x.response.end_ns) == (None, False, 3)


def test_read_until_close_cut_by_capture_end() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /old HTTP/1.1\r\n\r\n", 0)
    conn.feed(RESP, 2, b"HTTP/1.1 200 OK\r\n\r\npart", 0)
    [x] = exchanges(conn.finish(4, AbortKind.CAPTURE_ENDED))
    assert x.response is not None and x.response.body_truncated
    assert x.abort is AbortKind.CAPTURE_ENDED


def test_unanswered_requests_are_aborted_with_given_kind() -> None:
    conn = new_conn()
    requests = b"GET /poll HTTP/1.1\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc"
    conn.feed(ORIG, 1, requests, 0)
    got = exchanges(conn.finish(9, AbortKind.CLIENT_CLOSED))
    assert [(x.request.target, x.response, x.abort) for x in got] == [
        ("/poll", None, AbortKind.CLIENT_CLOSED),
        ("/p", None, AbortKind.CLIENT_CLOSED),
    ]
    assert got[1].request.body_truncated and got[1].request.body == b"abc"


UPGRADE_REQ = (
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: x\r\n\r\n"
)
UPGRADE_RESP = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)


def test_websocket_upgrade_hands_over_following_bytes() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, UPGRADE_REQ + b"\x81\x85early", 0)
    out = conn.feed(RESP, 2, UPGRADE_RESP + b"\x81\x01x", 0)
    [opened] = [o for o in out if isinstance(o, WsOpened)]
    assert exchanges(out) == []
    assert opened.extensions == "permessage-deflate"
    assert opened.request.target.startswith("/socket.io/") and opened.response.status == 101
    assert conn.upgraded
    conn.feed(ORIG, 3, b"more", len(UPGRADE_REQ) + 7)
    assert conn.take_upgraded_data() == [
        (ORIG, 1, len(UPGRADE_REQ), b"\x81\x85early"),
        (RESP, 2, len(UPGRADE_RESP), b"\x81\x01x"),
        (ORIG, 3, len(UPGRADE_REQ) + 7, b"more"),
    ]
    assert conn.take_upgraded_data() == []


def test_refused_upgrade_resumes_http() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, UPGRADE_REQ + b"GET /after HTTP/1.1\r\n\r\n", 0)
    out = conn.feed(RESP, 2, response(b"nope", status="400 Bad Request") + response(b"ok"), 0)
    assert [x.response.status for x in exchanges(out) if x.response] == [400, 200]
    assert not conn.upgraded


def test_client_detected_from_first_bytes() -> None:
    conn = new_conn()
    conn.feed(RESP, 1, b"GET / HTTP/1.1\r\n\r\n", 0)
    [x] = exchanges(conn.feed(ORIG, 2, response(b""), 0))
    assert conn.client is RESP
    assert (x.client, x.server) == (SERVER_EP, CLIENT_EP)
    other = new_conn()
    other.feed(ORIG, 1, b"HTTP/1.1 200 OK\r\n", 0)
    assert other.client is RESP


def test_garbage_is_a_diagnostic_and_stops_the_direction() -> None:
    conn = new_conn()
    out = conn.feed(ORIG, 1, b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 0)
    out += conn.feed(ORIG, 2, b"GET / HTTP/1.1\r\n\r\n", 16)
    assert codes(out) == ["http-garbage"]
    assert exchanges(out + conn.finish(3, AbortKind.CAPTURE_ENDED)) == []


def test_header_block_limit() -> None:
    conn = new_conn(limits=HttpLimits(header_bytes=100))
    out = conn.feed(ORIG, 1, b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 200, 0)
    assert codes(out) == ["http-header-too-large"]


def test_gap_inside_body_keeps_sync() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 0)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    out = conn.feed(RESP, 2, head + b"abc", 0)
    out += conn.gap(RESP, 3, len(head) + 3, 4)
    out += conn.feed(RESP, 4, b"hij" + response(b"ok"), len(head) + 7)
    first, second = exchanges(out)
    assert first.response is not None and first.response.body_truncated
    assert first.response.body == b"abchij"
    assert second.response is not None and second.response.body == b"ok"
    assert "http-gap" in codes(out)


def test_gap_in_requests_resynchronises_on_next_request_line() -> None:
    conn = new_conn()
    out = conn.feed(ORIG, 1, b"GET /lost HTTP/1.1\r\nHo", 0)
    out += conn.feed(ORIG, 2, b"xx\r\n\r\nGET /found HTTP/1.1\r\n\r\n", 30)  # implicit gap
    out += conn.feed(RESP, 3, response(b"r"), 0)
    assert [x.request.target for x in exchanges(out)] == ["/found"]
    assert {"http-gap", "http-resync", "http-partial-message"} <= set(codes(out))


def test_response_lost_in_gap_is_reported() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n", 0)
    out = conn.feed(RESP, 2, b"HTTP/1.1 200", 0)
    out += conn.gap(RESP, 3, 12, 50)
    out += conn.feed(RESP, 4, response(b"two"), 62)
    first, second = exchanges(out)
    assert first.response is None and first.error_text
    assert second.response is not None and second.response.body == b"two"


def _records(conn: Http1Connection, items: list[HttpOut]) -> list[object]:
    return [i for i in items if not isinstance(i, Diagnostic)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=64)), max_size=12))
def test_arbitrary_bytes_never_raise(chunks: list[tuple[bool, bytes]]) -> None:
    conn = new_conn(limits=HttpLimits(header_bytes=256, body_bytes=64, inflate_bytes=64))
    offsets = {ORIG: 0, RESP: 0}
    for from_client, data in chunks:
        direction = ORIG if from_client else RESP
        conn.feed(direction, 1, data, offsets[direction])
        offsets[direction] += len(data)
    conn.finish(2, AbortKind.CAPTURE_ENDED)


VALID_CLIENT = (
    b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked"
    b"\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + UPGRADE_REQ
)
VALID_SERVER = (
    response(gzip.compress(b"zipped"), "Content-Encoding: gzip")
    + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"2\r\nok\r\n0\r\nT: 1\r\n\r\n"
    + UPGRADE_RESP
    + b"\x81\x02hi"
)


def _split(data: bytes, cuts: list[int]) -> list[tuple[int, bytes]]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [(a, data[a:b]) for a, b in itertools.pairwise(points)]


def _run_split(client_cuts: list[int], server_cuts: list[int]) -> list[object]:
    conn = new_conn()
    out: list[HttpOut] = []
    for offset, chunk in _split(VALID_CLIENT, client_cuts):
        out += conn.feed(ORIG, 1, chunk, offset)
    for offset, chunk in _split(VALID_SERVER, server_cuts):
        out += conn.feed(RESP, 1, chunk, offset)
    data = b"".join(chunk for _, _, _, chunk in conn.take_upgraded_data())
    return [*_records(conn, out), data]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=8), st.lists(st.integers(0, 10_000), max_size=8))
def test_random_split_gives_same_records(client_cuts: list[int], server_cuts: list[int]) -> None:
    whole = _run_split([], [])
    assert len(whole) == 4  # two exchanges, WsOpened, the bytes after the handshake
    assert _run_split(client_cuts, server_cuts) == whole


AFTER_GAP = b"ody of a lost request\r\nGET /again HTTP/1.1\r\n\r\nGET /more HTTP/1.1\r\n\r\n"


def _run_after_gap(cuts: list[int]) -> list[tuple[str, HttpResponse | None]]:
    conn = new_conn()
    out = conn.feed(ORIG, 1, b"POST /x HTTP/1.1\r\nContent-Le", 0)
    out += conn.gap(ORIG, 2, 28, 100)
    for offset, chunk in _split(AFTER_GAP, cuts):
        out += conn.feed(ORIG, 3, chunk, 128 + offset)
    out += conn.feed(RESP, 4, response(b"1") + response(b"2"), 0)
    return [(x.request.target, x.response) for x in exchanges(out)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 1000), max_size=8))
def test_resync_after_gap_is_split_invariant(cuts: list[int]) -> None:
    whole = _run_after_gap([])
    assert [target for target, _ in whole] == ["/again", "/more"]
    assert _run_after_gap(cuts) == whole


def test_resync_at_stream_position_right_after_gap() -> None:
    conn = new_conn()
    conn.feed(ORIG, 1, b"GET /a HTTP/1.1\r\nX", 0)
    conn.gap(ORIG, 2, 19, 10)
    out = conn.feed(ORIG, 3, b"GE", 29)
    out += conn.feed(ORIG, 3, b"T /b HTTP/1.1\r\n\r\n", 31)
    out += conn.feed(RESP, 4, response(b"b"), 0)
    assert [x.request.target for x in exchanges(out)] == ["/b"]


CLIENT_MESSAGES = [
    b"GET /poll HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /send HTTP/1.1\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    b"HEAD /h HTTP/1.1\r\n\r\n",
    b"POST /zero HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    b"GET /bad HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    UPGRADE_REQ,
]
SERVER_MESSAGES = [
    response(b"ok"),
    response(b""),
    response(b"abc", "Content-Encoding: identity"),
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nxyz",
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno",
]


def _conversation(turns: list[tuple[bool, int]]) -> list[HttpOut]:
    conn = Http1Connection(7, CLIENT_EP, SERVER_EP, client=ORIG, limits=HttpLimits(body_bytes=4))
    offsets = {ORIG: 0, RESP: 0}
    out: list[HttpOut] = []
    for ts, (from_client, index) in enumerate(turns):
        direction = ORIG if from_client else RESP
        pool = CLIENT_MESSAGES if from_client else SERVER_MESSAGES
        message = pool[index % len(pool)]
        out += conn.feed(direction, ts, message, offsets[direction])
        offsets[direction] += len(message)
    return out + conn.finish(len(turns), AbortKind.CAPTURE_ENDED)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=10))
def test_whole_message_fast_path_matches_the_state_machine(turns: list[tuple[bool, int]]) -> None:
    fast = _conversation(turns)
    with patch.object(Http1Connection, "_whole_message", return_value=False):
        general = _conversation(turns)
    assert fast == general


def test_non_ascii_digit_content_length_is_garbage_not_a_crash() -> None:
    conn = new_conn()
    out = conn.feed(ORIG, 1, b"POST / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n", 0)
    assert codes(out) == ["http-garbage"]
