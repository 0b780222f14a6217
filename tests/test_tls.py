"""TLS decryption with a key log: key schedule vectors (RFC 8448), records, real capture."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.capture.keylog import read_keylog
from analyzer.errors import InputError
from analyzer.net.events import Direction
from analyzer.pipeline import analyze
from analyzer.tls import (
    SUITES,
    KeyLog,
    RecordCipher,
    TlsDecryptor,
    parse_keylog,
    tls12_keys,
    tls12_prf,
    tls13_traffic_keys,
)

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
CLIENT, SERVER = Direction.ORIGINATOR, Direction.RESPONDER


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# RFC 8448 section 3 (simple 1-RTT handshake, TLS_AES_128_GCM_SHA256).
RFC_CLIENT_HELLO = h("""
01 00 00 c0 03 03 cb 34 ec b1 e7 81 63 ba 1c 38 c6 da cb 19 6a 6d ff a2 1a 8d 99 12 ec 18
a2 ef 62 83 02 4d ec e7 00 00 06 13 01 13 03 13 02 01 00 00 91 00 00 00 0b 00 09 00 00 06
73 65 72 76 65 72 ff 01 00 01 00 00 0a 00 14 00 12 00 1d 00 17 00 18 00 19 01 00 01 01 01
02 01 03 01 04 00 23 00 00 00 33 00 26 00 24 00 1d 00 20 99 38 1d e5 60 e4 bd 43 d2 3d 8e
43 5a 7d ba fe b3 c0 6e 51 c1 3c ae 4d 54 13 69 1e 52 9a af 2c 00 2b 00 03 02 03 04 00 0d
00 20 00 1e 04 03 05 03 06 03 02 03 08 04 08 05 08 06 04 01 05 01 06 01 02 01 04 02 05 02
06 02 02 02 00 2d 00 02 01 01 00 1c 00 02 40 01""")
RFC_SERVER_HELLO = h("""
02 00 00 56 03 03 a6 af 06 a4 12 18 60 dc 5e 6e 60 24 9c d3 4c 95 93 0c 8a c5 cb 14 34 da
c1 55 77 2e d3 e2 69 28 00 13 01 00 00 2e 00 33 00 24 00 1d 00 20 c9 82 88 76 11 20 95 fe
66 76 2b db f7 c6 72 e1 56 d6 cc 25 3b 83 3d f1 dd 69 b1 b0 4e 75 1f 0f 00 2b 00 02 03 04""")
C_HS_SECRET = h(
    "b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f "
    "3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21"
)
S_HS_SECRET = h(
    "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 "
    "e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38"
)
C_AP_SECRET = h(
    "9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 "
    "87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5"
)
S_AP_SECRET = h(
    "a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 "
    "82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43"
)
S_HS_KEY, S_HS_IV = (
    h("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc"),
    h("5d 31 3e b2 67 12 76 ee 13 00 0b 30"),
)
C_HS_KEY, C_HS_IV = (
    h("db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01"),
    h("5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f"),
)
C_AP_KEY, C_AP_IV = (
    h("17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51"),
    h("5b 78 92 3d ee 08 57 90 33 e5 23 d9"),
)
S_AP_KEY, S_AP_IV = (
    h("9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56"),
    h("cf 78 2b 88 dd 83 54 9a ad f1 e9 84"),
)
RFC_CLIENT_APP_RECORD = h("""
17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa 66 bc
ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92 a2 97 70 14 bd
1e 3d ea e6 3a ee bb 21 69 49 15 e4""")
RFC_SERVER_APP_RECORD = h("""
17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f 82 aa
1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0 a2 1c 00 47 c2
ab f3 32 54 0d d0 32 e1 67 c2 95 5d""")
RFC_PAYLOAD = bytes(range(0x32))
CLIENT_RANDOM = RFC_CLIENT_HELLO[6:38]


def rfc_keylog() -> KeyLog:
    lines = [
        f"CLIENT_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM.hex()} {C_HS_SECRET.hex()}",
        f"SERVER_HANDSHAKE_TRAFFIC_SECRET {CLIENT_RANDOM.hex()} {S_HS_SECRET.hex()}",
        f"CLIENT_TRAFFIC_SECRET_0 {CLIENT_RANDOM.hex()} {C_AP_SECRET.hex()}",
        f"SERVER_TRAFFIC_SECRET_0 {CLIENT_RANDOM.hex()} {S_AP_SECRET.hex()}",
    ]
    keylog, diagnostics = parse_keylog("\n".join(["# comment", *lines, ""]))
    assert not diagnostics
    return keylog


def record(ctype: int, body: bytes, version: bytes = b"\x03\x03") -> bytes:
    return bytes([ctype]) + version + len(body).to_bytes(2, "big") + body


def seal13(key: bytes, iv: bytes, seq: int, inner: bytes) -> bytes:
    """A TLS 1.3 protected record, sealed independently of the code under test."""
    header = b"\x17\x03\x03" + (len(inner) + 16).to_bytes(2, "big")
    nonce = (int.from_bytes(iv, "big") ^ seq).to_bytes(12, "big")
    return header + AESGCM(key).encrypt(nonce, inner, header)


def handshake_msg(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize(
    ("secret", "key", "iv"),
    [
        (S_HS_SECRET, S_HS_KEY, S_HS_IV),
        (C_HS_SECRET, C_HS_KEY, C_HS_IV),
        (C_AP_SECRET, C_AP_KEY, C_AP_IV),
        (S_AP_SECRET, S_AP_KEY, S_AP_IV),
    ],
)
def test_tls13_traffic_keys_match_rfc8448(secret: bytes, key: bytes, iv: bytes) -> None:
    assert tls13_traffic_keys(SUITES[0x1301], secret) == (key, iv)


def test_rfc8448_application_records_open() -> None:
    client = RecordCipher.tls13(SUITES[0x1301], C_AP_SECRET)
    assert (
        client.open(RFC_CLIENT_APP_RECORD[:5], RFC_CLIENT_APP_RECORD[5:]) == RFC_PAYLOAD + b"\x17"
    )
    server = RecordCipher.tls13(SUITES[0x1301], S_AP_SECRET)
    assert server.open(RFC_SERVER_APP_RECORD[:5], RFC_SERVER_APP_RECORD[5:]) is None  # seq 0
    server.seq = 1  # the server's NewSessionTicket took sequence number 0
    assert (
        server.open(RFC_SERVER_APP_RECORD[:5], RFC_SERVER_APP_RECORD[5:]) == RFC_PAYLOAD + b"\x17"
    )


def test_tls12_prf_vector() -> None:
    out = tls12_prf(
        "sha256",
        h("9b be 43 6b a9 40 f0 17 b1 76 52 84 9a 71 db 35"),
        b"test label",
        h("a0 ba 9f 93 6c da 31 18 27 a6 f7 96 ff d5 19 8c"),
        100,
    )
    assert out == h("""
e3 f2 29 ba 72 7b e1 7b 8d 12 26 20 55 7c d4 53 c2 aa b2 1d 07 c3 d4 95 32 9b 52 d4 e6 1e
db 5a 6b 30 17 91 e9 0d 35 c9 c9 a4 6b 4e 14 ba f9 af 0f a0 22 f7 07 7d ef 17 ab fd 37 97
c0 56 4b ab 4f bc 91 66 6e 9d ef 9b 97 fc e3 4f 79 67 89 ba a4 80 82 d1 22 ee 42 c5 a7 2e
5a 51 10 ff f7 01 87 34 7b 66""")


def rfc_streams() -> dict[Direction, bytes]:
    """The RFC 8448 connection, handshake flights re-sealed with the RFC's handshake keys."""
    server_flight = handshake_msg(8, b"\x00\x00") + handshake_msg(20, bytes(32))
    client = (
        record(22, RFC_CLIENT_HELLO, b"\x03\x01")
        + record(20, b"\x01")  # middlebox-compatibility ChangeCipherSpec, never encrypted
        + seal13(C_HS_KEY, C_HS_IV, 0, handshake_msg(20, bytes(32)) + b"\x16")
        + RFC_CLIENT_APP_RECORD
    )
    server = (
        record(22, RFC_SERVER_HELLO)
        + seal13(S_HS_KEY, S_HS_IV, 0, server_flight + b"\x16")
        + seal13(S_AP_KEY, S_AP_IV, 0, handshake_msg(4, bytes(13)) + b"\x16" + bytes(7))
        + RFC_SERVER_APP_RECORD
    )
    return {CLIENT: client, SERVER: server}


def feed_in_order(dec: TlsDecryptor, chunk: int) -> dict[Direction, bytes]:
    """Client hello, server flight, client rest: the order a capture shows them in."""
    streams = rfc_streams()
    hello_end = 5 + len(RFC_CLIENT_HELLO)
    plan = [(CLIENT, 0, hello_end), (SERVER, 0, len(streams[SERVER]))]
    plan.append((CLIENT, hello_end, len(streams[CLIENT])))
    got: dict[Direction, bytes] = {CLIENT: b"", SERVER: b""}
    for direction, start, end in plan:
        for at in range(start, end, chunk):
            piece = streams[direction][at : min(at + chunk, end)]
            for d, _ts, plain, offset in dec.feed(direction, 1, piece, at):
                assert offset == len(got[d])
                got[d] += plain
    return got


@pytest.mark.parametrize("chunk", [1, 7, 100_000])
def test_decryptor_follows_tls13_key_switches(chunk: int) -> None:
    dec = TlsDecryptor(0, CLIENT, rfc_keylog())
    got = feed_in_order(dec, chunk)
    assert got == {CLIENT: RFC_PAYLOAD, SERVER: RFC_PAYLOAD}
    assert dec.diagnostics == []
    assert dec.client_random == CLIENT_RANDOM
    assert dec.records == 5


def test_missing_key_is_a_diagnostic() -> None:
    dec = TlsDecryptor(3, CLIENT, KeyLog())
    assert feed_in_order(dec, 1000) == {CLIENT: b"", SERVER: b""}
    assert [d.code for d in dec.diagnostics] == ["tls-no-key"]


def test_wrong_key_is_a_diagnostic() -> None:
    keylog = KeyLog({k: bytes(len(v)) for k, v in rfc_keylog().secrets.items()})
    dec = TlsDecryptor(3, CLIENT, keylog)
    assert feed_in_order(dec, 1000) == {CLIENT: b"", SERVER: b""}
    assert "tls-record-skipped" in {d.code for d in dec.diagnostics}


def test_gap_is_a_diagnostic_and_stops_the_direction() -> None:
    dec = TlsDecryptor(0, CLIENT, rfc_keylog())
    streams = rfc_streams()
    dec.feed(CLIENT, 1, streams[CLIENT][:10], 0)
    assert dec.feed(CLIENT, 2, streams[CLIENT][20:], 20) == []
    assert [d.code for d in dec.diagnostics] == ["tls-gap"]


def test_ack_offsets_translate_to_plaintext_offsets() -> None:
    dec = TlsDecryptor(0, CLIENT, rfc_keylog())
    feed_in_order(dec, 100_000)
    total = len(rfc_streams()[CLIENT])
    assert dec.plain_offset(CLIENT, total - 1) == 0  # the app record is not fully acked
    assert dec.plain_offset(CLIENT, total) == len(RFC_PAYLOAD)


def test_tls12_gcm_after_change_cipher_spec() -> None:
    suite = SUITES[0xC02F]
    client_random, server_random, master = bytes(range(32)), bytes(range(32, 64)), bytes(48)
    hello = handshake_msg(1, b"\x03\x03" + client_random + b"\x00")
    server_hello = handshake_msg(2, b"\x03\x03" + server_random + b"\x00\xc0\x2f\x00")
    (ckey, civ), _ = tls12_keys(suite, master, client_random, server_random)

    def seal12(seq: int, ctype: int, plain: bytes) -> bytes:
        explicit = seq.to_bytes(8, "big")
        aad = seq.to_bytes(8, "big") + bytes([ctype, 3, 3]) + len(plain).to_bytes(2, "big")
        return record(ctype, explicit + AESGCM(ckey).encrypt(civ + explicit, plain, aad))

    keylog, _ = parse_keylog(f"CLIENT_RANDOM {client_random.hex()} {master.hex()}")
    dec = TlsDecryptor(0, CLIENT, keylog)
    dec.feed(CLIENT, 1, record(22, hello), 0)
    dec.feed(SERVER, 1, record(22, server_hello), 0)
    stream = record(20, b"\x01") + seal12(0, 22, handshake_msg(20, bytes(12)))
    stream += seal12(1, 23, b"GET / HTTP/1.1\r\n\r\n")
    out = dec.feed(CLIENT, 2, stream, 5 + len(hello))
    assert [plain for _, _, plain, _ in out] == [b"GET / HTTP/1.1\r\n\r\n"]
    assert dec.diagnostics == []


def test_keylog_bad_lines_are_reported() -> None:
    keylog, diagnostics = parse_keylog("CLIENT_RANDOM zz 00\nCLIENT_RANDOM " + "00" * 32 + " 11\n")
    assert len(keylog) == 1
    assert [d.code for d in diagnostics] == ["tls-keylog-bad-line"]


def test_unreadable_keylog_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        read_keylog(os.fspath(tmp_path / "missing.keys"))
    empty = tmp_path / "empty.keys"
    empty.write_text("# nothing\n")
    with pytest.raises(InputError):
        read_keylog(os.fspath(empty))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.binary(max_size=300)), max_size=12),
    st.booleans(),
)
def test_arbitrary_bytes_raise_nothing(chunks: list[tuple[bool, bytes]], hellos: bool) -> None:
    dec = TlsDecryptor(0, CLIENT, rfc_keylog())
    offsets = {CLIENT: 0, SERVER: 0}
    if hellos:
        for direction, body in ((CLIENT, RFC_CLIENT_HELLO), (SERVER, RFC_SERVER_HELLO)):
            dec.feed(direction, 0, record(22, body), 0)
            offsets[direction] = 5 + len(body)
    for to_server, data in chunks:
        direction = CLIENT if to_server else SERVER
        dec.feed(direction, 1, data, offsets[direction])
        offsets[direction] += len(data)
        dec.plain_offset(direction, offsets[direction])


def test_real_capture_decrypts_to_the_truth() -> None:
    truth = json.loads((CAPTURES / "tls-keylog.truth.json").read_text(encoding="utf-8"))
    pcap, keys = CAPTURES / truth["capture"]["file"], CAPTURES / truth["capture"]["tls_keylog"]
    assert analyze(os.fspath(pcap)).sessions == ()
    analysis = analyze(os.fspath(pcap), keylog=os.fspath(keys))
    found = {
        s.sid: (list(s.transports), {(k.nsp, k.id) for k in s.sockets}) for s in analysis.sessions
    }
    expected = {
        s["sid"]: (s["transports"], {(k["nsp"], k["id"]) for k in s["sockets"]})
        for s in truth["sessions"]
    }
    assert found == expected
    assert not [d for d in analysis.diagnostics if d.code.startswith("tls-")]
