"""`byte_windows`: the header bytes of a batch's frames, one row per frame, in bulk."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from analyzer.capture.mapped import byte_windows


@given(st.binary(min_size=1, max_size=200), st.data())
def test_each_row_is_the_bytes_at_its_index(data: bytes, draw: st.DataObject) -> None:
    width = draw.draw(st.integers(1, 40))
    chunk = np.frombuffer(data, dtype=np.uint8)
    at = draw.draw(st.lists(st.integers(0, len(data) - 1), max_size=20))
    rows = byte_windows(chunk, np.array(at, dtype=np.int64), width)
    assert rows.shape == (len(at), width)
    padded = data + bytes(max(0, width - len(data)))
    for row, index in zip(rows.tolist(), at, strict=True):
        start = min(index, len(padded) - width)  # moved back to end at the chunk's end
        assert bytes(row) == padded[start : start + width]


def test_a_whole_window_is_read_where_it_fits() -> None:
    chunk = np.arange(100, dtype=np.uint8)
    rows = byte_windows(chunk, np.array([0, 10, 64], dtype=np.int64), 36)
    assert rows[:, 0].tolist() == [0, 10, 64]
    assert rows[:, 35].tolist() == [35, 45, 99]


def test_a_window_past_the_end_and_a_short_chunk() -> None:
    chunk = np.arange(10, dtype=np.uint8)
    assert byte_windows(chunk, np.array([8], dtype=np.int64), 4).tolist() == [[6, 7, 8, 9]]
    assert byte_windows(chunk[:3], np.array([1], dtype=np.int64), 5).tolist() == [[0, 1, 2, 0, 0]]
