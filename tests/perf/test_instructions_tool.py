"""The instruction-count tool's worker mode still drives a real decoding worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer import parallel
from tests.perf import instructions

CAPTURE = Path(__file__).parents[2] / "captures" / "binary-acks.pcap"


def test_worker_mode_decodes_and_pickles_a_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    handed_over: list[int] = []
    real_dumps = parallel._dumps

    def counting_dumps(message: object) -> bytes:
        if isinstance(message, list):
            handed_over.append(len(message))
        return real_dumps(message)

    monkeypatch.setattr(parallel, "_dumps", counting_dumps)
    instructions.main(["--worker", str(CAPTURE)])
    assert sum(handed_over) > 0  # the shard's transport records were pickled
