"""rag.index.rows.RowFile: rows of a .npy matrix, read whole (small files) or by pread (large ones), alike."""

from pathlib import Path

import numpy as np
import pytest

from rag.index import rows
from rag.index.rows import RowFile


@pytest.mark.parametrize("in_memory_bytes", [1 << 30, 0], ids=["read whole", "read by row"])
def test_rows_runs_slices_and_ranges_match_numpy(tmp_path: Path, monkeypatch, in_memory_bytes: int) -> None:
    monkeypatch.setattr(rows, "IN_MEMORY_BYTES", in_memory_bytes)
    matrix = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    np.save(tmp_path / "m.npy", matrix)
    stored = RowFile(tmp_path / "m.npy")
    picked = np.array([3, 4, 5, 9, 10, 500, 2, 999])
    assert len(stored) == 1000 and np.array_equal(stored[picked], matrix[picked])
    assert np.array_equal(stored[7], matrix[7]) and np.array_equal(stored[10:20], matrix[10:20])
    assert stored[np.array([], dtype=np.int64)].shape == (0, 8)
    assert np.array_equal(stored.ranges(np.array([0, 5, 7]), np.array([2, 5, 9])), matrix[[0, 1, 7, 8]])
    assert np.array_equal(np.asarray(stored), matrix)
