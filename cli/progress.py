"""Build progress on stderr as one line: done/total texts, the rate and the time left.

A build embeds texts: each chunk's text and each of its sentences (answers quote
sentences), so progress, rate and the build summary all count texts. On a
terminal the line is rewritten in place; elsewhere (a log, a pipe) it is written
once when the build starts and once when it ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

UNIT = "texts"
REDRAW_S = 0.25  # at most four redraws a second


def rate_and_eta(done: int, total: int, seconds: float) -> str:
    """"38.2 texts/s, 0:22 left", or "" before anything is done (no "0 texts/s")."""
    if done <= 0 or seconds <= 0:
        return ""
    rate = done / seconds
    left = round((total - done) / rate)
    return f"{rate:.1f} {UNIT}/s, {left // 60}:{left % 60:02d} left"


@contextmanager
def embedding_progress(total: int, label: str = "embedding", stream: TextIO | None = None) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; shows e.g. "embedding 1200/2055 texts (58%), 38.2 texts/s, 0:22 left"."""
    out = stream or sys.stderr
    live = out.isatty()
    started = last = time.monotonic()
    done = 0

    def line() -> str:
        extra = rate_and_eta(done, total, time.monotonic() - started)
        percent = f" ({100 * done // total}%)" if total else ""
        return f"{label} {done}/{total} {UNIT}{percent}" + (f", {extra}" if extra else "")

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if live and (now - last >= REDRAW_S or done >= total):
            last = now
            out.write("\r\x1b[2K" + line())
            out.flush()

    out.write(("\r\x1b[2K" if live else "") + line() + ("" if live else "\n"))
    out.flush()
    try:
        yield advance
    finally:
        seconds = time.monotonic() - started
        rate = f", {done / seconds:.1f} {UNIT}/s" if done and seconds > 0 else ""
        out.write(("\r\x1b[2K" if live else "") + f"{label} {done}/{total} {UNIT} (new chunks and their sentences) "
                  f"in {seconds:.1f} s{rate}\n")
        out.flush()
