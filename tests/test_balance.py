"""api.balance: a process holding more than its share of the connections closes its surplus, one each."""

from __future__ import annotations

import asyncio
import ctypes

from api.balance import CLOSE, ConnectionShare, shedding


def _shares(*open_counts: int) -> list[ConnectionShare]:
    """One share per process of a shared array, each with that many connections open."""
    counts = (ctypes.c_int * len(open_counts))()
    shares = [ConnectionShare(counts, slot) for slot in range(len(open_counts))]
    for share, n in zip(shares, open_counts, strict=True):
        for _ in range(n):
            share.opened()
    return shares


def test_a_process_over_its_share_sheds_its_surplus_once_each() -> None:
    full, light = _shares(20, 12)
    assert not light.shed_one()
    assert [full.shed_one() for _ in range(6)] == [True] * 4 + [False] * 2  # 20 → 16, the share of 32
    for _ in range(4):  # the four told to close go; their clients come back, two to each
        full.closed()
    full.opened(), full.opened(), light.opened(), light.opened()
    assert list(full.counts) == [18, 14] and full.shed_one() and full.shed_one() and not full.shed_one()


def test_an_uneven_total_is_not_shed_back_and_forth() -> None:
    first, second = _shares(17, 16)
    assert not first.shed_one() and not second.shed_one()


def test_a_new_process_is_handed_connections() -> None:
    old, _ = _shares(8, 0)
    assert [old.shed_one() for _ in range(5)] == [True] * 4 + [False]


def test_the_response_of_a_shed_connection_says_close() -> None:
    share = _shares(2, 0)[0]  # two connections, the other process none: more than the share of 1
    sent: list[dict] = []

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def send(message) -> None:
        sent.append(message)

    asyncio.run(shedding(app, share)({"type": "http"}, None, send))
    assert CLOSE in sent[0]["headers"] and (b"content-type", b"text/plain") in sent[0]["headers"]
    sent.clear()
    asyncio.run(shedding(app, share)({"type": "http"}, None, send))
    assert CLOSE not in sent[0]["headers"]
