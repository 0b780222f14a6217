"""The instruction-count tool's worker mode still drives a real decoding worker."""

from __future__ import annotations

from pathlib import Path

from tests.perf import instructions

CAPTURE = Path(__file__).parents[2] / "captures" / "binary-acks.pcap"


def test_worker_mode_decodes_and_pickles_a_shard() -> None:
    assert instructions._run_worker(str(CAPTURE)) > 0  # batches of transport records sent
