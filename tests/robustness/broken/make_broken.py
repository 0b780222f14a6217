"""Write the broken and hostile sample files of this folder, and `expected.json`.

Run from the repository root: `python -m tests.robustness.broken.make_broken`.
Deterministic: the same script writes byte-identical files (fixed seeds, fixed times).
`expected.json` maps each file to the CLI arguments to add, the exit code `sioscope report`
must give, and a diagnostic code (exit 0) or a place (exit 2) the output must name.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

from tests.robustness import craft
from tests.robustness.craft import ws_frame

HERE = Path(__file__).parent
EXPECTED = "expected.json"
SMALL = [
    "--limit-ws-inflate-bytes",
    "1M",
    "--limit-http-inflate-bytes",
    "1M",
    "--limit-http-body-bytes",
    "16k",
]


def valid_records() -> list[craft.Record]:
    frame = ws_frame(1, b'42["hello",{"n":1}]', mask=False)
    return craft.websocket_session("sidOK", [frame, ws_frame(8, b"\x03\xe8", mask=False)])


def _flip_bits(data: bytes, count: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(count):
        pos = rng.randrange(24, len(out))  # keep the file header: flips inside records
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def capture_files() -> dict[str, tuple[bytes, list[str], int, str]]:
    """name -> (content, extra args, exit code, diagnostic code or place in the message)."""
    good = craft.pcap_file(valid_records())
    first_len = struct.unpack_from("<I", good, 24 + 8)[0]
    ng = craft.pcapng_file(valid_records())
    rng = random.Random(8)
    return {
        "empty.pcap": (b"", [], 2, "byte 0"),
        "magic-only.pcap": (good[:3], [], 0, "capture-truncated"),
        "cut-in-file-header.pcap": (good[:13], [], 0, "capture-truncated"),
        "cut-in-record-header.pcap": (good[: 24 + 7], [], 0, "capture-truncated"),
        "cut-in-record-data.pcap": (good[: 24 + 16 + first_len // 2], [], 0, "capture-truncated"),
        "cut-late.pcap": (good[: len(good) * 2 // 3], [], 0, "capture-truncated"),
        "snaplen-cut.pcap": (craft.pcap_file(_snap(valid_records(), 60), 60), [], 0, "snaplen"),
        "bit-flips.pcap": (_flip_bits(good, 40, 1), [], 0, ""),
        "absurd-record-length.pcap": (
            good[:24] + struct.pack("<IIII", 1, 0, 1 << 30, 1 << 30) + b"x" * 64,
            [],
            0,
            "capture-corrupt",
        ),
        "random-after-header.pcap": (good[:24] + rng.randbytes(3000), [], 0, "capture-corrupt"),
        "random.bin": (b"\x17" + rng.randbytes(4000), [], 2, "byte 0"),
        "wrong-magic.png": (b"\x89PNG\r\n\x1a\n" + rng.randbytes(200), [], 2, "byte 0"),
        "text.txt": (b"hello, this is not a capture\n", [], 2, "byte 0"),
        "pcapng-unknown-blocks.pcapng": (
            craft.pcapng_file(
                valid_records(),
                [craft.unknown_block(0x0BAD, 40), craft.unknown_block(0x80000001, 8)],
            ),
            [],
            0,
            "pcapng-unknown-block",
        ),
        "pcapng-cut-in-block.pcapng": (ng[: len(ng) - 37], [], 0, "truncated"),
        "pcapng-cut-in-header.pcapng": (ng[:20], [], 0, "truncated"),
        "pcapng-bad-block-length.pcapng": (
            ng[:32] + struct.pack("<I", 7) + ng[36:],
            [],
            0,
            "capture-corrupt",
        ),
        **hostile_files(),
    }


def _snap(records: list[craft.Record], snaplen: int) -> list[craft.Record]:
    return [(ts, data[:snaplen], wire) for ts, data, wire in records]


def hostile_files() -> dict[str, tuple[bytes, list[str], int, str]]:
    huge = ws_frame(2, b"\0" * 32, mask=False, declared=(1 << 63) - 1)
    bomb = craft.deflate_raw(b"4" + b"\0" * (4 << 20))
    gzip_bomb = craft.gzip_bytes(b"4" + b"0" * (4 << 20))
    nested = b'42["deep",' + b"[" * 5000 + b"]" * 5000 + b"]"
    repeated = craft.polling_handshake(craft.Conversation(client=(3, 50000)).open(), "sidOK")
    return {
        "ws-length-2^63.pcap": (_ws(huge), [], 0, "ws-frame-too-large"),
        "ws-deflate-bomb.pcap": (
            _ws(ws_frame(1, bomb, mask=False, rsv1=True), deflate=True),
            SMALL,
            0,
            "ws-inflate-limit",
        ),
        "http-gzip-bomb.pcap": (
            _polling_reply(gzip_bomb, "Content-Encoding: gzip\r\n"),
            SMALL,
            0,
            "http-inflate-limit",
        ),
        "http-endless-chunked.pcap": (_endless_chunked(), SMALL, 0, "http-body-limit"),
        "repeated-sid.pcap": (
            craft.pcap_file(sorted(valid_records() + repeated.records)),
            [],
            0,
            "repeated-sid",
        ),
        "polling-length-past-body.pcap": (
            _polling_reply(b"99:4hello"),
            [],
            0,
            "malformed-engineio",
        ),
        "deep-json-event.pcap": (_ws(ws_frame(1, nested, mask=False)), [], 0, "malformed-socketio"),
    }


def _ws(frame: bytes, *, deflate: bool = False) -> bytes:
    return craft.pcap_file(craft.websocket_session("sidWS", [frame], deflate=deflate))


def _polling_reply(body: bytes, extra: str = "") -> bytes:
    conv = craft.polling_handshake(craft.Conversation(client=(4, 41000)).open(), "sidPOLL")
    conv.client_sends(craft.http_get("/socket.io/?EIO=4&transport=polling&sid=sidPOLL"))
    conv.server_sends(craft.http_response(body, extra))
    return craft.pcap_file(conv.records)


def _endless_chunked() -> bytes:
    conv = craft.polling_handshake(craft.Conversation(client=(5, 42000)).open(), "sidCHUNK")
    conv.client_sends(craft.http_get("/socket.io/?EIO=4&transport=polling&sid=sidCHUNK"))
    conv.server_sends(craft.http_response(b"", "Transfer-Encoding: chunked\r\n"))
    chunk = b"1000\r\n" + b"6" * 0x1000 + b"\r\n"
    conv.server_sends(chunk * 10, mss=8192)  # 40 KiB and never a last chunk
    return craft.pcap_file(conv.records)


def har_files() -> dict[str, tuple[bytes, list[str], int, str]]:
    entry = {
        "startedDateTime": "2024-01-01T00:00:00.000Z",
        "time": 5,
        "request": {
            "method": "GET",
            "url": "http://h/socket.io/?EIO=4&transport=polling",
            "headers": [],
        },
        "response": {"status": 200, "headers": [], "content": {"text": "x"}},
    }
    absurd = dict(entry, startedDateTime="9999-12-31T23:59:59Z")
    wrong = [entry, 17, {"request": "nope"}, dict(entry, response=[1, 2])]
    return {
        "invalid-json.har": (b'{"log": {"entries": [', [], 2, "line 1"),
        "no-log.har": (b'{"logs": {}}', [], 2, "$.log"),
        "entries-not-list.har": (b'{"log": {"entries": {}}}', [], 2, "$.log.entries"),
        "entries-wrong-shape.har": (_har(wrong), [], 0, "$.log.entries[1]"),
        "absurd-timestamps.har": (_har([absurd]), [], 0, "$.log.entries[0]"),
        "not-utf8.har": (b'{"log": "\xff\xfe"}', [], 2, "byte"),
        "deeply-nested.har": (
            b'{"log": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            [],
            2,
            "nested too deeply",
        ),
    }


def _har(entries: list[object]) -> bytes:
    return json.dumps({"log": {"version": "1.2", "entries": entries}}).encode()


def write_all(folder: Path) -> list[str]:
    """Write every sample and `expected.json` into `folder`; returns the names written."""
    expected = {}
    for name, (content, args, code, mention) in {**capture_files(), **har_files()}.items():
        (folder / name).write_bytes(content)
        expected[name] = {"args": args, "exit": code, "mention": mention}
    (folder / EXPECTED).write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return [*sorted(expected), EXPECTED]


if __name__ == "__main__":
    write_all(HERE)
