"""Build progress (cli/progress.py): one unit (texts embedded), one rate, a time left; never "0 …/s"."""

from __future__ import annotations

import io

from cli.progress import embedding_progress, rate_and_eta


def test_rate_and_time_left_only_once_something_is_done() -> None:
    assert rate_and_eta(0, 100, 3.0) == ""
    assert rate_and_eta(10, 100, 0.0) == ""
    assert rate_and_eta(50, 100, 10.0) == "5.0 texts/s, 0:10 left"
    assert rate_and_eta(10, 700, 1.0) == "10.0 texts/s, 1:09 left"


def test_off_a_terminal_the_progress_is_a_line_at_the_start_and_one_at_the_end() -> None:
    out = io.StringIO()
    with embedding_progress(687, stream=out) as advance:
        for _ in range(3):
            advance(229)
    start, end = out.getvalue().splitlines()
    assert start == "embedding 0/687 texts (0%)"
    assert end.startswith("embedding 687/687 texts (new chunks and their sentences) in ")
    assert end.endswith(" texts/s") and " 0.0 texts/s" not in end
    assert "chunks/s" not in out.getvalue() and "passages" not in out.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_it_is_one_line_rewritten_in_place() -> None:
    out = _Terminal()
    with embedding_progress(10, stream=out) as advance:
        advance(10)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "\r\x1b[2K" in text and "embedding 10/10 texts (100%)" in text
