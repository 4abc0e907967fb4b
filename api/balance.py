"""Even out kept-alive connections across the processes of `rag serve --workers N`.

Each process listens on its own SO_REUSEPORT socket, and the kernel picks a
process for a new connection by a hash of its addresses: 32 connections split
18/14, 20/12 and 17/15 in trials here. A client that keeps its connection alive
stays where it landed, so the clients of the fuller process wait longer for
every answer, and their waits are the slowest percent of all.

Every process counts its open connections in a slot of an array shared by all
of them. A process holding more than its share (the total divided by the number
of processes, rounded up) answers its next request with `Connection: close`:
the client opens a new connection, which the kernel places again, and the
counts meet within a few requests. A process that starts (or replaces one that
died) holds none, so the others hand it connections the same way.
"""

from __future__ import annotations

import math
from ctypes import Array, c_int

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

CLOSE = (b"connection", b"close")


class ConnectionShare:
    """This process's count of open connections, in its slot of an array all the processes share.

    `leaving` counts connections told to close whose socket has not closed yet, so one surplus
    connection is shed once, not once per request answered before it goes. Only the event loop's
    thread touches it; each slot has a single writer, so the array needs no lock."""

    def __init__(self, counts: Array[c_int], slot: int) -> None:
        self.counts, self.slot = counts, slot
        self.open = self.leaving = 0
        self._publish()

    def opened(self) -> None:
        self.open += 1
        self._publish()

    def closed(self) -> None:
        self.open -= 1
        self.leaving = max(self.leaving - 1, 0)
        self._publish()

    def shed_one(self) -> bool:
        """True when this process holds more than its share: the caller closes the connection it answers."""
        # The connections told to close are not in the counts, but their clients come back to one process or another.
        fair = math.ceil((sum(self.counts) + self.leaving) / len(self.counts))
        if self.open - self.leaving <= fair:
            return False
        self.leaving += 1
        self._publish()
        return True

    def _publish(self) -> None:
        self.counts[self.slot] = self.open - self.leaving


def counting_protocol(base: type[H11Protocol], share: ConnectionShare) -> type[H11Protocol]:
    """`base` with every connection it opens and loses counted in `share`."""

    class Counted(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport) -> None:
            share.opened()
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            share.closed()
            super().connection_lost(exc)

    return Counted


def shedding(app: ASGIApp, share: ConnectionShare) -> ASGIApp:
    """`app` whose HTTP responses carry `Connection: close` while `share` says this process holds too many."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and share.shed_one():
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        await app(scope, receive, send_closing)

    return wrapped
