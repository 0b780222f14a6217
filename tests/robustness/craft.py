"""Cheap capture crafting for robustness tests: raw struct packing, no scapy (it is too slow
for captures with many thousands of handshakes). Checksums are left zero; the reader does
not check them.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

NS = 1_000_000_000
T0 = 1_700_000_000 * NS
SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08

Record = tuple[int, bytes, int]  # ts_ns, captured bytes, wire length


def pcap_header(snaplen: int = 65535, linktype: int = 1) -> bytes:
    """Little-endian nanosecond pcap file header."""
    return struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(ts_ns: int, data: bytes, wire_len: int | None = None) -> bytes:
    sec, frac = divmod(ts_ns, NS)
    wire = len(data) if wire_len is None else wire_len
    return struct.pack("<IIII", sec, frac, len(data), wire) + data


def pcap_file(records: Iterable[Record], snaplen: int = 65535) -> bytes:
    return pcap_header(snaplen) + b"".join(pcap_record(*r) for r in records)


def pcapng_file(records: Iterable[Record], extra_blocks: Iterable[bytes] = ()) -> bytes:
    """One section, one Ethernet interface in nanoseconds, enhanced packet blocks."""
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    tsres = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)  # if_tsresol=9
    idb = _block(1, struct.pack("<HHI", 1, 0, 65535) + tsres)
    epbs = []
    for ts_ns, data, wire in records:
        body = struct.pack("<IIIII", 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, len(data), wire)
        epbs.append(_block(6, body + data + b"\0" * (-len(data) % 4)))
    return shb + idb + b"".join(extra_blocks) + b"".join(epbs)


def _block(block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def unknown_block(block_type: int = 0x0BAD, size: int = 20) -> bytes:
    return _block(block_type, bytes(range(size % 256)) * (size // 256 + 1))


def ipv4_tcp(src: tuple[int, int], dst: tuple[int, int], seq: int, ack: int, flags: int,
             payload: bytes = b"") -> bytes:  # fmt: skip
    """An Ethernet/IPv4/TCP frame; addresses are (host number in 10.0.0.0/8, port)."""
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0)  # fmt: skip
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0,
                     _addr(src[0]), _addr(dst[0]))  # fmt: skip
    eth = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00"
    return eth + ip + tcp + payload


def _addr(host: int) -> bytes:
    return bytes([10, (host >> 16) & 0xFF, (host >> 8) & 0xFF, host & 0xFF])


@dataclass
class Conversation:
    """One TCP connection between a client and a server, written as frames with times."""

    client: tuple[int, int]
    server: tuple[int, int] = (1, 3000)
    ts_ns: int = T0
    step_ns: int = 1_000_000
    records: list[Record] = field(default_factory=list)
    _cseq: int = 1000
    _sseq: int = 5000

    def _emit(self, frame: bytes) -> None:
        self.records.append((self.ts_ns, frame, len(frame)))
        self.ts_ns += self.step_ns

    def open(self) -> Conversation:
        self._emit(ipv4_tcp(self.client, self.server, self._cseq, 0, SYN))
        self._emit(ipv4_tcp(self.server, self.client, self._sseq, self._cseq + 1, SYN | ACK))
        self._cseq += 1
        self._sseq += 1
        self._emit(ipv4_tcp(self.client, self.server, self._cseq, self._sseq, ACK))
        return self

    def client_sends(self, data: bytes, mss: int = 1400) -> Conversation:
        for start in range(0, len(data), mss):
            part = data[start : start + mss]
            self._emit(ipv4_tcp(self.client, self.server, self._cseq, self._sseq, ACK | PSH, part))
            self._cseq += len(part)
        return self

    def server_sends(self, data: bytes, mss: int = 1400) -> Conversation:
        for start in range(0, len(data), mss):
            part = data[start : start + mss]
            self._emit(ipv4_tcp(self.server, self.client, self._sseq, self._cseq, ACK | PSH, part))
            self._sseq += len(part)
        return self

    def close(self) -> Conversation:
        self._emit(ipv4_tcp(self.client, self.server, self._cseq, self._sseq, FIN | ACK))
        self._emit(ipv4_tcp(self.server, self.client, self._sseq, self._cseq + 1, FIN | ACK))
        self._emit(ipv4_tcp(self.client, self.server, self._cseq + 1, self._sseq + 1, ACK))
        return self


def http_get(target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: server:3000\r\n{extra}\r\n".encode()


def http_response(body: bytes, extra: str = "", status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=UTF-8\r\n{extra}"
    if "Transfer-Encoding" not in extra:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def handshake_body(sid: str) -> bytes:
    shake = {"sid": sid, "upgrades": ["websocket"], "pingInterval": 25000,
             "pingTimeout": 20000, "maxPayload": 1000000}  # fmt: skip
    return b"0" + json.dumps(shake).encode()


def polling_handshake(conv: Conversation, sid: str) -> Conversation:
    """The Engine.IO v4 open over polling: GET without sid, 200 with the handshake."""
    conv.client_sends(http_get("/socket.io/?EIO=4&transport=polling&t=a"))
    return conv.server_sends(http_response(handshake_body(sid)))


def many_sessions(count: int, start_host: int = 2) -> Iterator[Record]:
    """`count` tiny sessions, each its own connection: handshake, then close."""
    for n in range(count):
        host = start_host + n // 60000
        conv = Conversation(client=(host, 1024 + n % 60000), ts_ns=T0 + n * 1_000_000)
        polling_handshake(conv.open(), f"s{n:08d}").close()
        yield from conv.records


def ws_frame(opcode: int, payload: bytes, *, mask: bool, fin: bool = True, rsv1: bool = False,
             declared: int | None = None) -> bytes:  # fmt: skip
    """One websocket frame; `declared` overrides the length field (hostile lengths)."""
    length = len(payload) if declared is None else declared
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    if length < 126:
        head = bytes([first, (0x80 if mask else 0) | length])
    elif length < 1 << 16:
        head = bytes([first, (0x80 if mask else 0) | 126]) + struct.pack("!H", length)
    else:
        head = bytes([first, (0x80 if mask else 0) | 127]) + struct.pack("!Q", length)
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def deflate_raw(data: bytes) -> bytes:
    """permessage-deflate body: raw deflate with the trailing 00 00 ff ff removed."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]


def gzip_bytes(data: bytes) -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + 15)
    return comp.compress(data) + comp.flush()


def websocket_session(sid: str, frames: list[bytes], *, deflate: bool = False,
                      client: tuple[int, int] = (2, 40000)) -> list[Record]:  # fmt: skip
    """A polling handshake, then a websocket upgrade on a second connection and `frames`
    sent by the server."""
    poll = polling_handshake(Conversation(client=client).open(), sid)
    ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    ws = Conversation(client=(client[0], client[1] + 1), ts_ns=poll.ts_ns)
    ws.open().client_sends(http_get(
        f"/socket.io/?EIO=4&transport=websocket&sid={sid}",
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + ext,
    ))  # fmt: skip
    ws.server_sends(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" + ext.encode() + b"\r\n"
    )
    ws.client_sends(ws_frame(1, b"2probe", mask=True))
    ws.server_sends(ws_frame(1, b"3probe", mask=False))
    ws.client_sends(ws_frame(1, b"5", mask=True))
    for frame in frames:
        ws.server_sends(frame)
    return sorted(poll.records + ws.records, key=lambda r: r[0])
