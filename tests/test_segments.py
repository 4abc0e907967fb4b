"""rag.index.segments: which segments an update keeps, and how the other rows are cut."""

import pytest

from rag.index.segments import Placed, Segment, plan_segments


def _segments(*rows: int) -> list[Segment]:
    return [Segment(name=f"s{i}", rows=n, sentences=n) for i, n in enumerate(rows)]


@pytest.fixture(autouse=True)
def _segment_rows(monkeypatch) -> None:
    monkeypatch.setattr("rag.index.segments.SEGMENT_ROWS", 8)  # a quarter segment: 2 rows


def test_a_first_build_is_cut_into_near_equal_segments() -> None:
    assert plan_segments([], [], 20) == [Placed(0, 7), Placed(7, 13), Placed(13, 20)]


def test_segments_moved_whole_are_kept_and_the_changed_one_written_anew() -> None:
    old = _segments(8, 8, 8, 8)
    # Old rows 16:19 changed into 5 rows: rows 19:24 and the last segment move down by 2.
    moves = [(0, 16, 0), (19, 32, 21)]
    assert plan_segments(old, moves, 34) == [Placed(0, 8, old[0]), Placed(8, 16, old[1]), Placed(16, 21),
                                             Placed(21, 26), Placed(26, 34, old[3])]


def test_a_short_run_of_new_rows_is_written_with_its_neighbour() -> None:
    old = _segments(8, 8)
    added_between = [(0, 8, 0), (8, 16, 9)]  # one new row at 8
    assert plan_segments(old, added_between, 17) == [Placed(0, 8, old[0]), Placed(8, 12), Placed(12, 17)]
    added_last = [(0, 16, 0)]
    assert plan_segments(old, added_last, 17) == [Placed(0, 8, old[0]), Placed(8, 12), Placed(12, 17)]


def test_short_old_segments_are_not_kept() -> None:
    old = _segments(8, 1, 8)
    assert plan_segments(old, [(0, 17, 0)], 17) == [Placed(0, 8, old[0]), Placed(8, 12), Placed(12, 17)]
