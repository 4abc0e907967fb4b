"""rag.index.rows.RowFile: rows of .npy matrices stacked, read whole (small ones) or by pread (large ones), alike."""

from pathlib import Path

import numpy as np
import pytest

from rag.index import rows
from rag.index.rows import RowFile


@pytest.mark.parametrize("in_memory_bytes", [1 << 30, 0], ids=["read whole", "read by row"])
@pytest.mark.parametrize("bounds", [[], [300, 300, 701]], ids=["one file", "segments, one empty"])
def test_rows_runs_slices_and_ranges_match_numpy(tmp_path: Path, monkeypatch, in_memory_bytes: int,
                                                 bounds: list[int]) -> None:
    monkeypatch.setattr(rows, "IN_MEMORY_BYTES", in_memory_bytes)
    matrix = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    parts = np.split(matrix, bounds)
    for i, part in enumerate(parts):
        np.save(tmp_path / f"m{i}.npy", part)
    stored = RowFile([tmp_path / f"m{i}.npy" for i in range(len(parts))])
    picked = np.array([3, 4, 5, 9, 10, 299, 300, 301, 500, 2, 999])
    assert len(stored) == 1000 and np.array_equal(stored[picked], matrix[picked])
    assert np.array_equal(stored[7], matrix[7]) and np.array_equal(stored[10:20], matrix[10:20])
    assert stored[np.array([], dtype=np.int64)].shape == (0, 8)
    assert np.array_equal(stored.ranges(np.array([0, 5, 7, 298]), np.array([2, 5, 9, 702])),
                          np.concatenate([matrix[[0, 1, 7, 8]], matrix[298:702]]))
    assert np.array_equal(np.asarray(stored), matrix)
