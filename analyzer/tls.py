"""TLS decryption with an NSS key log (SSLKEYLOGFILE), sans-I/O.

Node (`--tls-keylog`), browsers and curl write the secrets of each connection to a key log,
keyed by the ClientHello random. With it, `TlsDecryptor` follows one TCP connection's TLS
records, learns the randoms and the cipher suite from the cleartext hellos, derives the
record keys (TLS 1.3 key schedule, TLS 1.2 PRF) and hands back the application data, so
the HTTP and WebSocket parsers above can treat the connection as if it were plain.

Only AEAD suites exist in TLS 1.3; for TLS 1.2 the AES-GCM and ChaCha20-Poly1305 suites
are supported (what modern stacks negotiate). Anything missing or broken becomes a
`Diagnostic` and the affected direction is skipped; nothing here raises on bad bytes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from analyzer.core import Diagnostic, Severity
from analyzer.net.events import Direction

TlsPlain = tuple[Direction, int, bytes, int]  # direction, ts_ns, plaintext, plaintext offset

MAX_RECORD = (1 << 14) + 2048  # largest legal ciphertext fragment (TLS 1.2 allowance)
MAX_HANDSHAKE_BUFFER = 256 * 1024  # one handshake message being reassembled
_MAX_MARKS = 4096  # record boundaries kept per direction to translate TCP ACK offsets
_MAX_FAILURES = 8  # consecutive undecryptable records before a direction is given up
_CCS, _ALERT, _HANDSHAKE, _APPLICATION = 20, 21, 22, 23
_HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()  # RFC 8446 4.1.3
_TLS12, _TLS13 = 0x0303, 0x0304


@dataclass(frozen=True, slots=True)
class CipherSuite:
    code: int
    chacha: bool  # ChaCha20-Poly1305, else AES-GCM
    key_len: int
    hash_name: str  # "sha256" | "sha384": HKDF / PRF hash
    tls13: bool


SUITES = {
    s.code: s
    for s in (
        CipherSuite(0x1301, False, 16, "sha256", True),
        CipherSuite(0x1302, False, 32, "sha384", True),
        CipherSuite(0x1303, True, 32, "sha256", True),
        *(CipherSuite(c, False, 16, "sha256", False) for c in (0x009C, 0x009E, 0xC02B, 0xC02F)),
        *(CipherSuite(c, False, 32, "sha384", False) for c in (0x009D, 0x009F, 0xC02C, 0xC030)),
        *(CipherSuite(c, True, 32, "sha256", False) for c in (0xCCA8, 0xCCA9, 0xCCAA)),
    )
}


# -- key log ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyLog:
    """Secrets by (label, client random), e.g. ("CLIENT_TRAFFIC_SECRET_0", random)."""

    secrets: dict[tuple[str, bytes], bytes] = field(default_factory=dict)

    def get(self, label: str, client_random: bytes) -> bytes | None:
        return self.secrets.get((label, client_random))

    def __len__(self) -> int:
        return len(self.secrets)


def parse_keylog(text: str, where: str = "keylog") -> tuple[KeyLog, list[Diagnostic]]:
    """Parse NSS key log lines `LABEL <client random hex> <secret hex>`; bad lines are counted."""
    secrets: dict[tuple[str, bytes], bytes] = {}
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            label, random_hex, secret_hex = parts
            client_random, secret = bytes.fromhex(random_hex), bytes.fromhex(secret_hex)
        except ValueError:
            bad.append(number)
            continue
        if len(client_random) != 32 or not secret:
            bad.append(number)
            continue
        secrets[(label, client_random)] = secret
    diagnostics = []
    if bad:
        lines = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        message = f"{len(bad)} unusable key log line(s): {lines}"
        diagnostics.append(Diagnostic("tls-keylog-bad-line", Severity.WARNING, where, message))
    return KeyLog(secrets), diagnostics


# -- key derivation --------------------------------------------------------------------


def _hash(name: str) -> hashes.HashAlgorithm:
    return hashes.SHA384() if name == "sha384" else hashes.SHA256()


def hkdf_expand_label(
    hash_name: str, secret: bytes, label: str, context: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label of RFC 8446 7.1."""
    full = b"tls13 " + label.encode()
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + bytes([len(context)]) + context
    return HKDFExpand(_hash(hash_name), length, info).derive(secret)


def tls13_traffic_keys(suite: CipherSuite, secret: bytes) -> tuple[bytes, bytes]:
    """(key, iv) of one direction from its traffic secret."""
    key = hkdf_expand_label(suite.hash_name, secret, "key", b"", suite.key_len)
    return key, hkdf_expand_label(suite.hash_name, secret, "iv", b"", 12)


def tls12_prf(hash_name: str, secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """P_hash of RFC 5246 5 (the TLS 1.2 PRF)."""
    seed = label + seed
    out, a = b"", seed
    while len(out) < length:
        a = hmac.digest(secret, a, hash_name)
        out += hmac.digest(secret, a + seed, hash_name)
    return out[:length]


def tls12_keys(
    suite: CipherSuite, master: bytes, client_random: bytes, server_random: bytes
) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """((client key, iv), (server key, iv)) from the key block; AEAD suites have no MAC keys."""
    iv_len = 12 if suite.chacha else 4
    size = 2 * (suite.key_len + iv_len)
    block = tls12_prf(
        suite.hash_name, master, b"key expansion", server_random + client_random, size
    )
    k, i = suite.key_len, iv_len
    client_key, server_key = block[:k], block[k : 2 * k]
    client_iv, server_iv = block[2 * k : 2 * k + i], block[2 * k + i : 2 * k + 2 * i]
    return (client_key, client_iv), (server_key, server_iv)


class RecordCipher:
    """Opens the protected records of one direction, counting sequence numbers."""

    __slots__ = ("_aead", "_iv", "secret", "seq", "suite")

    def __init__(self, suite: CipherSuite, key: bytes, iv: bytes, secret: bytes = b"") -> None:
        self.suite = suite
        self.secret = secret  # TLS 1.3 traffic secret, for KeyUpdate
        self._aead = ChaCha20Poly1305(key) if suite.chacha else AESGCM(key)
        self._iv = iv
        self.seq = 0

    @classmethod
    def tls13(cls, suite: CipherSuite, secret: bytes) -> RecordCipher:
        key, iv = tls13_traffic_keys(suite, secret)
        return cls(suite, key, iv, secret)

    def updated(self) -> RecordCipher:
        """The next generation after a KeyUpdate (RFC 8446 7.2)."""
        size = len(self.secret)
        return RecordCipher.tls13(
            self.suite,
            hkdf_expand_label(self.suite.hash_name, self.secret, "traffic upd", b"", size),
        )

    def open(self, header: bytes, fragment: bytes) -> bytes | None:
        """Plaintext (TLS 1.3: still with its inner type), or None if it does not authenticate."""
        seq = self.seq.to_bytes(8, "big")
        if self.suite.tls13 or self.suite.chacha:
            nonce = _xor_seq(self._iv, self.seq)
            body = fragment
        else:
            nonce, body = self._iv + fragment[:8], fragment[8:]
        if len(body) < 16:
            return None
        aad = header if self.suite.tls13 else seq + header[:3] + (len(body) - 16).to_bytes(2, "big")
        try:
            plain = self._aead.decrypt(nonce, body, aad)
        except InvalidTag:
            return None
        self.seq += 1
        return plain


def _xor_seq(iv: bytes, seq: int) -> bytes:
    return (int.from_bytes(iv, "big") ^ seq).to_bytes(len(iv), "big")


# -- per connection --------------------------------------------------------------------


@dataclass(slots=True)
class _Half:
    """One direction: record buffer, its keys and where its plaintext stands."""

    buf: bytearray = field(default_factory=bytearray)
    end: int | None = None  # TCP stream offset just past `buf`
    plain_end: int = 0
    cipher: RecordCipher | None = None
    pending: RecordCipher | None = None  # TLS 1.3: after this side's Finished; 1.2: after CCS
    handshake: bytearray = field(default_factory=bytearray)
    marks: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=_MAX_MARKS))
    acked_plain: int = 0
    failures: int = 0
    dead: bool = False


class TlsDecryptor:
    """One TLS connection: TCP payload in, application-data plaintext out, per direction."""

    def __init__(self, conn: int, client: Direction, keylog: KeyLog) -> None:
        self.conn = conn
        self.client = client
        self._keylog = keylog
        self._halves = {d: _Half() for d in Direction}
        self.client_random: bytes | None = None
        self.version: int | None = None
        self.suite: CipherSuite | None = None
        self.records = 0  # protected records opened
        self.diagnostics: list[Diagnostic] = []
        self._codes: set[str] = set()

    def feed(self, direction: Direction, ts_ns: int, data: bytes, offset: int) -> list[TlsPlain]:
        """Stream bytes of one direction (TCP offsets); returns the plaintext they complete."""
        half = self._halves[direction]
        out: list[TlsPlain] = []
        if half.dead:
            return out
        half.end = offset if half.end is None else half.end
        if offset > half.end:
            self.gap(direction, ts_ns, half.end, offset - half.end)
            return out
        data = data[half.end - offset :]
        half.buf += data
        half.end += len(data)
        self._records(direction, half, ts_ns, out)
        return out

    def gap(self, direction: Direction, ts_ns: int, offset: int, length: int) -> None:
        """Bytes missing: record framing and sequence numbers are lost for this direction."""
        del ts_ns
        self._give_up(direction, "tls-gap", f"{length} bytes missing at offset {offset}")

    def plain_offset(self, direction: Direction, tcp_offset: int) -> int:
        """The plaintext offset fully carried by TCP bytes before `tcp_offset` (for ACKs)."""
        half = self._halves[direction]
        while half.marks and half.marks[0][0] <= tcp_offset:
            half.acked_plain = half.marks.popleft()[1]
        return half.acked_plain

    def plain_end(self, direction: Direction) -> int:
        return self._halves[direction].plain_end

    # -- records -----------------------------------------------------------------------

    def _records(self, direction: Direction, half: _Half, ts_ns: int, out: list[TlsPlain]) -> None:
        buf, pos = half.buf, 0
        assert half.end is not None
        start = half.end - len(buf)
        while len(buf) - pos >= 5 and not half.dead:
            ctype, major, length = buf[pos], buf[pos + 1], int.from_bytes(buf[pos + 3 : pos + 5])
            if ctype not in (_CCS, _ALERT, _HANDSHAKE, _APPLICATION) or major != 3:
                self._give_up(direction, "tls-bad-record", f"not a TLS record at {start + pos}")
                break
            if length > MAX_RECORD:
                self._give_up(direction, "tls-bad-record", f"record of {length} bytes")
                break
            if len(buf) - pos - 5 < length:
                break
            header, fragment = bytes(buf[pos : pos + 5]), bytes(buf[pos + 5 : pos + 5 + length])
            pos += 5 + length
            self._record(direction, half, ts_ns, header, fragment, out)
            half.marks.append((start + pos, half.plain_end))
        del buf[:pos]
        if half.dead:
            buf.clear()

    def _record(
        self,
        direction: Direction,
        half: _Half,
        ts_ns: int,
        header: bytes,
        fragment: bytes,
        out: list[TlsPlain],
    ) -> None:
        ctype = header[0]
        if half.cipher is None or ctype == _CCS:
            if ctype == _HANDSHAKE:
                self._handshake(direction, half, fragment)
            elif ctype == _CCS and self.version == _TLS12 and half.pending is not None:
                half.cipher, half.pending = half.pending, None
            elif ctype == _ALERT:
                self._alert(direction, fragment)
            return
        plain = self._open(direction, half, header, fragment)
        if plain is None:
            return
        if self.version == _TLS13:
            plain = plain.rstrip(b"\x00")
            ctype, plain = (plain[-1], plain[:-1]) if plain else (0, b"")
        if ctype == _APPLICATION and plain:
            out.append((direction, ts_ns, plain, half.plain_end))
            half.plain_end += len(plain)
        elif ctype == _HANDSHAKE:
            self._handshake(direction, half, plain)
        elif ctype == _ALERT:
            self._alert(direction, plain)

    def _open(
        self, direction: Direction, half: _Half, header: bytes, fragment: bytes
    ) -> bytes | None:
        assert half.cipher is not None
        plain = half.cipher.open(header, fragment)
        if plain is None and half.pending is not None and self.version == _TLS13:
            plain = half.pending.open(header, fragment)  # missed Finished: try the next keys
            if plain is not None:
                half.cipher, half.pending = half.pending, None
        if plain is not None:
            half.failures = 0
            self.records += 1
            return plain
        half.failures += 1
        self._note("tls-record-skipped", Severity.INFO, direction, "a record did not decrypt")
        if half.failures >= _MAX_FAILURES:
            self._give_up(
                direction, "tls-decrypt-failed", "records do not decrypt with the key log"
            )
        return None

    def _alert(self, direction: Direction, body: bytes) -> None:
        if len(body) >= 2 and body[1] != 0:  # 0 = close_notify, the normal goodbye
            self._note(
                "tls-alert", Severity.INFO, direction, f"TLS alert {body[1]} (level {body[0]})"
            )

    # -- handshake ---------------------------------------------------------------------

    def _handshake(self, direction: Direction, half: _Half, data: bytes) -> None:
        half.handshake += data
        if len(half.handshake) > MAX_HANDSHAKE_BUFFER:
            half.handshake.clear()
            self._note("tls-handshake-too-big", Severity.INFO, direction, "handshake skipped")
            return
        buf = half.handshake
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[1:4]):
            size = 4 + int.from_bytes(buf[1:4])
            kind, body = buf[0], bytes(buf[4:size])
            del buf[:size]
            self._message(direction, half, kind, body)

    def _message(self, direction: Direction, half: _Half, kind: int, body: bytes) -> None:
        if kind == 1 and direction is self.client and len(body) >= 34:
            self.client_random = body[2:34]
        elif kind == 2 and direction is not self.client and len(body) >= 38:
            self._server_hello(direction, body)
        elif kind == 20 and self.version == _TLS13 and half.pending is not None:
            half.cipher, half.pending = half.pending, None
        elif kind == 24 and self.version == _TLS13 and half.cipher is not None:
            half.cipher = half.cipher.updated()

    def _server_hello(self, direction: Direction, body: bytes) -> None:
        server_random = body[2:34]
        if server_random == _HRR_RANDOM:
            return  # HelloRetryRequest: a second ClientHello and ServerHello follow
        sid_end = 35 + body[34]
        code = int.from_bytes(body[sid_end : sid_end + 2])
        version = _selected_version(body, sid_end + 3) or int.from_bytes(body[0:2])
        self.version = version
        suite = SUITES.get(code)
        if version not in (_TLS12, _TLS13) or suite is None or suite.tls13 != (version == _TLS13):
            self._give_up_all(f"unsupported TLS version {version:#06x} / suite {code:#06x}")
            return
        self.suite = suite
        if self.client_random is None:
            self._give_up_all("no ClientHello seen: the key log cannot be matched")
        elif version == _TLS13:
            self._start_tls13(suite, self.client_random)
        else:
            self._start_tls12(suite, self.client_random, server_random)

    def _start_tls13(self, suite: CipherSuite, client_random: bytes) -> None:
        for direction, who in ((self.client, "CLIENT"), (self.client.other, "SERVER")):
            handshake = self._keylog.get(f"{who}_HANDSHAKE_TRAFFIC_SECRET", client_random)
            application = self._keylog.get(f"{who}_TRAFFIC_SECRET_0", client_random)
            if handshake is None or application is None:
                self._give_up_all(f"no TLS 1.3 secrets for client random {client_random.hex()}")
                return
            half = self._halves[direction]
            half.cipher = RecordCipher.tls13(suite, handshake)
            half.pending = RecordCipher.tls13(suite, application)

    def _start_tls12(self, suite: CipherSuite, client_random: bytes, server_random: bytes) -> None:
        master = self._keylog.get("CLIENT_RANDOM", client_random)
        if master is None:
            self._give_up_all(f"no CLIENT_RANDOM line for {client_random.hex()}")
            return
        client_keys, server_keys = tls12_keys(suite, master, client_random, server_random)
        self._halves[self.client].pending = RecordCipher(suite, *client_keys)
        self._halves[self.client.other].pending = RecordCipher(suite, *server_keys)

    # -- diagnostics -------------------------------------------------------------------

    def _give_up(self, direction: Direction, code: str, message: str) -> None:
        half = self._halves[direction]
        if not half.dead:
            half.dead = True
            half.buf.clear()
            half.handshake.clear()
            self._note(code, Severity.WARNING, direction, f"{message}; rest of direction skipped")

    def _give_up_all(self, message: str) -> None:
        for half in self._halves.values():
            half.dead = True
            half.handshake.clear()
        self._note("tls-no-key", Severity.WARNING, None, message)

    def _note(
        self, code: str, severity: Severity, direction: Direction | None, message: str
    ) -> None:
        key = f"{code}/{direction}"
        if key in self._codes:
            return
        self._codes.add(key)
        side = "" if direction is None else (" client" if direction is self.client else " server")
        self.diagnostics.append(Diagnostic(code, severity, f"conn {self.conn}{side}", message))


def _selected_version(body: bytes, pos: int) -> int | None:
    """The supported_versions extension of a ServerHello, if present."""
    end = pos + 2 + int.from_bytes(body[pos : pos + 2])
    pos += 2
    while pos + 4 <= min(end, len(body)):
        ext, size = int.from_bytes(body[pos : pos + 2]), int.from_bytes(body[pos + 2 : pos + 4])
        if ext == 43 and size == 2:
            return int.from_bytes(body[pos + 4 : pos + 6])
        pos += 4 + size
    return None
