"""LeanReader: a decision's Redis read without redis-py's generic command path (issue 10).

redis-py spends more CPU per command than the rest of an anonymous decision (a pool with a
condition variable and its own timeouts, observability hooks, argument encoding, a connection check
per command). A decision's read is always the same command (`EVALSHA` of the read script), so here
it goes over one connection per worker and event loop, pipelined: each call writes its command at
once and waits for its reply in order (a queue of futures), and hiredis parses the replies.

Failure behaves as with redis-py's reader client: errors are redis-py's exception classes (so
`RedisFailure` translates them like any other); a broken connection fails every call waiting on it
and the next call reconnects; a call retries once on a broken connection (reads are idempotent);
a call that waits longer than its timeout fails with a timeout. A connection that answered nothing
for `stale_s` while calls waited is dropped (a server that went away without closing it).
Only plain `redis://` URLs to one server (`lean_target`); TLS, unix sockets and clusters keep redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as BrokenConnection
from redis.exceptions import InvalidResponse, RedisError
from redis.exceptions import TimeoutError as ReadTimeout

STALE_S = 1.0  # at least this long without any reply while calls wait: the connection is dropped


@dataclass(frozen=True, slots=True)
class Target:
    """Where a lean connection goes: host, port, database and credentials of a `redis://` URL."""

    host: str
    port: int
    db: int
    username: str | None
    password: str | None


def lean_target(url: str) -> Target | None:
    """The server of a plain `redis://host[:port][/db]` URL (credentials allowed, no query); else None."""
    parts = urlsplit(url)
    if parts.scheme != "redis" or parts.query or not parts.hostname:
        return None
    path = parts.path.strip("/")
    if path and not path.isdigit():
        return None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Target(parts.hostname, parts.port or 6379, int(path or 0), username, password)


def pack(args: tuple[bytes | str | int, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Connection(asyncio.Protocol):
    """One connection: replies resolve the waiting futures in the order their commands were sent."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reader = hiredis.Reader(protocolError=InvalidResponse, replyError=BaseParser.parse_error)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.outgoing: list[bytes] = []  # commands queued this turn of the loop, written by `_flush`
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.quiet_since = loop.time()  # the last reply, or when calls started waiting on a quiet connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio.Transport subclasses

    @property
    def usable(self) -> bool:
        """Open, and not closed under us (a transport closing before `connection_lost` has run)."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue a command; the commands of one event-loop turn go out in one write (see `_flush`)."""
        future = self.loop.create_future()
        if not self.waiting:
            self.quiet_since = self.loop.time()
        if not self.usable:
            raise BrokenConnection("connection to redis closed")
        if not self.outgoing:
            self.loop.call_soon(self._flush)
        self.outgoing.append(packed)
        self.waiting.append(future)
        return future

    def _flush(self) -> None:
        """Write the queued commands at once: under load a turn of the loop starts many decisions, and one
        loopback `send` (the costly part of a round trip) for all of them costs what one command's did."""
        outgoing, self.outgoing = self.outgoing, []
        if self.closed or self.transport is None:
            return  # connection_lost failed their futures
        try:
            self.transport.write(b"".join(outgoing))
        except RuntimeError as exc:  # uvloop: the transport was closed under us
            self.abort(exc)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        self.quiet_since = self.loop.time()
        while True:
            try:
                reply = reader.gets()
            except InvalidResponse as exc:
                self.abort(exc)
                return
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self.abort(InvalidResponse("unexpected reply"))
                return
            future = waiting.popleft()
            if future.done():  # its caller timed out or was cancelled
                continue
            if isinstance(reply, RedisError):  # an error reply, as redis-py's parser makes it (NoScriptError, ...)
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        error = BrokenConnection(f"connection to redis lost: {exc.__class__.__name__ if exc else 'closed'}")
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)

    def abort(self, reason: BaseException) -> None:
        """Close at once; every waiting call fails with a broken connection."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        else:
            self.connection_lost(reason if isinstance(reason, Exception) else None)


class LeanReader:
    """Pipelined commands over one connection per event loop to one Redis server (see module doc)."""

    def __init__(self, target: Target, timeout_s: float, connect_timeout_s: float, stale_s: float = STALE_S) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.stale_s = max(stale_s, 4 * timeout_s)
        self._connection: _Connection | None = None
        self._connecting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    async def call(self, *args: bytes | str | int) -> Any:
        """The reply to one command (retried once on a broken connection); redis-py's exceptions on failure."""
        return await self._call(pack(args), 2)

    async def call_once(self, *args: bytes | str | int) -> Any:
        """`call` without the retry: for writes, whose fate is unknown when the connection breaks."""
        return await self._call(pack(args), 1)

    async def _call(self, packed: bytes, attempts: int) -> Any:
        for attempt in range(1, attempts + 1):
            connection = self._connection
            if connection is None or not connection.usable or connection.loop is not asyncio.get_running_loop():
                connection = await self._connect()
            future = connection.send(packed)
            expiry = connection.loop.call_later(self.timeout_s, self._expire, connection, future)
            try:
                return await future
            except BrokenConnection:
                if attempt == attempts:
                    raise
            finally:
                expiry.cancel()
        raise AssertionError("unreachable")

    def _expire(self, connection: _Connection, future: asyncio.Future[Any]) -> None:
        if future.done():
            return
        future.set_exception(ReadTimeout(f"redis did not answer within {self.timeout_s * 1000:.0f} ms"))
        if connection.loop.time() - connection.quiet_since >= self.stale_s:
            connection.abort(ReadTimeout("no reply"))

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting[0] is not loop:
            self._connecting = (loop, asyncio.Lock())
        async with self._connecting[1]:
            connection = self._connection
            if connection is not None and connection.usable and connection.loop is loop:
                return connection
            if connection is not None and connection.loop is not loop:
                self._connection = None  # the loop it belonged to is gone (tests run several)
            target = self.target
            try:
                async with asyncio.timeout(self.connect_timeout_s):
                    _, connection = await loop.create_connection(lambda: _Connection(loop), target.host, target.port)
                    try:
                        if target.password is not None:
                            auth = (target.username, target.password) if target.username else (target.password,)
                            await connection.send(pack(("AUTH", *auth)))
                        if target.db:
                            await connection.send(pack(("SELECT", target.db)))
                    except BaseException:
                        connection.abort(BrokenConnection("set-up failed"))
                        raise
            except TimeoutError as exc:
                raise ReadTimeout(f"could not connect to redis within {self.connect_timeout_s * 1000:.0f} ms") from exc
            except OSError as exc:
                raise BrokenConnection(f"could not connect to redis: {exc.__class__.__name__}") from exc
            self._connection = connection
            return connection

    async def close(self) -> None:
        """Close the connection (calls still waiting fail with a broken connection)."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed and connection.transport is not None:
            connection.transport.close()
            connection.closed = True
