"""The fast path's inline reassembly must give the slow path's events, event for event.

`fast_tcp_events` handles in-order data, pure ACKs, FINs and SYN-ACKs of known
connections itself and hands everything else to `TcpReassembler`; random conversations
(retransmissions, reordering, keep-alives, zero windows, resets, late packets, snaplen
cuts, reused 4-tuples, tight connection limits) hold the two paths to the same output.
"""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.capture.mapped import MappedPcap
from analyzer.capture.pcap import read_pcap
from analyzer.capture.tally import ReadTally
from analyzer.net import tcp_events
from analyzer.net.events import TcpEvent
from analyzer.net.fast import fast_tcp_events
from analyzer.net.packet import ACK, FIN, PSH, RST, SYN, DecodeStats
from analyzer.net.tcp import ReassemblyStats, TcpReassembler

CLIENT, SERVER = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
SNAPLEN = 80  # frames longer than this are cut (54 header bytes + 26 payload bytes)

# (client port, from client?, flags, seq delta, ack delta, payload length, time step)
Step = tuple[int, bool, int, int, int, int, int]

FLAG_CHOICES = [ACK, ACK, ACK | PSH, ACK | FIN, SYN, SYN | ACK, RST, RST | ACK, FIN, 0]


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           window: int, payload: bytes, linktype: int) -> bytes:  # fmt: skip
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, ack % 2**32, 0x50, flags,
                      window, 0, 0) + payload  # fmt: skip
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst) + tcp
    if linktype == 1:
        return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
    if linktype == 276:  # Linux cooked v2: protocol first, IP at 20
        return b"\x08\x00" + b"\0" * 18 + ip
    return ip  # raw IPv4


def _pcap(steps: list[Step], linktype: int) -> bytes:
    """A capture of `steps`: each moves its direction's sequence and acknowledgement."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, linktype))
    seqs: dict[tuple[int, bool], int] = {}
    ts = 1_700_000_000_000_000
    for port, from_client, flags, seq_delta, ack_delta, length, step in steps:
        ts += step
        mine, theirs = seqs.get((port, from_client), 1000), seqs.get((port, not from_client), 5000)
        seq, ack = mine + seq_delta, theirs + ack_delta
        seqs[(port, from_client)] = seq + length + (1 if flags & (SYN | FIN) else 0)
        src, dst, sport, dport = CLIENT, SERVER, port, 80
        if not from_client:
            src, dst, sport, dport = SERVER, CLIENT, 80, port
        window = 0 if step % 7 == 0 else 512
        frame = _frame(src, dst, sport, dport, seq, ack, flags, window, b"x" * length, linktype)
        kept = frame[: SNAPLEN - (14 if linktype == 1 else 0)]
        out += struct.pack("<IIII", ts // 10**6, ts % 10**6, len(kept), len(frame)) + kept
    return bytes(out)


def _slow(data: bytes, reassembler: TcpReassembler) -> list[TcpEvent]:
    frames = list(read_pcap(io.BytesIO(data), ReadTally()))
    return [*tcp_events(frames, reassembler), *reassembler.finish(truncated=False)]


def _fast(
    data: bytes, reassembler: TcpReassembler, shard: tuple[int, int] | None = None
) -> list[TcpEvent]:
    events = list(fast_tcp_events(MappedPcap(data, ReadTally()), reassembler, shard))
    return [*events, *reassembler.finish(truncated=False)]


def _counts(r: TcpReassembler) -> tuple[DecodeStats, ReassemblyStats]:
    return r.decode_stats, r.stats


steps_strategy = st.lists(
    st.tuples(
        st.sampled_from([40000, 40001, 40002]),
        st.booleans(),
        st.sampled_from(FLAG_CHOICES),
        st.sampled_from([0, 0, 0, 0, -1, -5, 3, 2**31 + 7]),  # in order, retransmit, ahead
        st.sampled_from([0, 0, 0, 1, -2, 9]),
        st.sampled_from([0, 0, 0, 1, 5, 40]),  # 40 bytes overrun the snaplen
        st.integers(1, 3_000_000),
    ),
    max_size=40,
)


def _handshakes(ports: list[int]) -> list[Step]:
    out: list[Step] = []
    for port in ports:
        out += [(port, True, SYN, 0, 0, 0, 5), (port, False, SYN | ACK, 0, 1, 0, 5),
                (port, True, ACK, 0, 0, 0, 5)]  # fmt: skip
    return out


@settings(max_examples=300, deadline=None)
@given(steps_strategy, st.sampled_from([1, 101, 276]), st.booleans())
def test_fast_and_slow_reassembly_agree(steps: list[Step], linktype: int, tight: bool) -> None:
    data = _pcap(_handshakes([40000, 40001]) + steps, linktype)
    settings_ = {"max_connections": 2, "linger_ns": 4_000_000_000} if tight else {}
    slow_r, fast_r = TcpReassembler(**settings_), TcpReassembler(**settings_)
    assert _fast(data, fast_r) == _slow(data, slow_r)
    assert _counts(fast_r) == _counts(slow_r)


@pytest.mark.parametrize("linktype", [1, 101, 276])
def test_a_whole_conversation_agrees(linktype: int) -> None:
    steps: list[Step] = [
        *_handshakes([40000]),
        (40000, True, ACK | PSH, 0, 0, 10, 5),
        (40000, False, ACK, 0, 0, 0, 5),
        (40000, False, ACK | PSH, 0, 0, 20, 5),
        (40000, True, ACK, -1, 0, 1, 5),  # keep-alive probe
        (40000, True, ACK | PSH, 0, 0, 40, 5),  # cut by the snaplen
        (40000, True, ACK | FIN, 0, 0, 0, 5),
        (40000, False, ACK | FIN, 0, 0, 0, 5),
        (40000, True, ACK, 0, 0, 0, 5),  # late: after both FINs
        (40000, True, ACK | PSH, 0, 0, 3, 5),  # late with data
    ]
    data = _pcap(steps, linktype)
    slow_r, fast_r = TcpReassembler(), TcpReassembler()
    fast = _fast(data, fast_r)
    assert fast == _slow(data, slow_r)
    assert _counts(fast_r) == _counts(slow_r)
    assert fast_r.stats.late_segments == 1
