"""Limits: request-head size and read-timeout guards for both of uvicorn's HTTP parsers.

uvicorn caps neither the size of a request head (httptools buffers any header) nor the time a
client may take to send it (a half-sent head holds a connection for good). `edge serve` runs
uvicorn with one of these protocol classes (`--http httptools` or `--http h11`):

- a request head (request line and headers) over `EDGE_MAX_HEADER_BYTES` (16 KiB) is answered
  431 and the connection closed; at most one read chunk more than the cap is ever buffered;
- a request whose head and body have not fully arrived `EDGE_READ_TIMEOUT_S` (10 s) after its
  first byte (or after the connection opened) is answered 408 and the connection closed.

Serving Edge with uvicorn directly keeps these guards with `--http edge.http.limits:HttpToolsLimits`
(or `edge.http.limits:H11Limits`).
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from edge.core.shapes import error_body
from edge.settings import Settings

log = logging.getLogger("edge.limits")
PROTOCOLS = {"httptools": "edge.http.limits:HttpToolsLimits", "h11": "edge.http.limits:H11Limits"}
H11_SLACK = 1 << 20  # h11's own buffer cap sits above ours: our check answers first, with a 431


@lru_cache(maxsize=1)
def configured() -> tuple[int, float]:
    """(max head bytes, read timeout s) of this process's `EDGE_*` environment."""
    settings = Settings.from_env()
    return settings.max_header_bytes, settings.read_timeout_s


def _answer(status: int, reason: str, message: str) -> bytes:
    body = msgspec.json.encode(error_body(reason.lower().replace(" ", "_"), message))
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Guard:
    """The shared bookkeeping: head bytes seen so far, and the read timer of the current request."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop

    def _guard_init(self) -> None:
        self.max_head, self.read_timeout = configured()
        self.head_bytes = 0
        self.timer: asyncio.TimerHandle | None = None
        self.head_done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]  # the uvicorn protocol after this mixin
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        if self.timer is None:
            self.timer = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expired(self) -> None:
        self.timer = None
        if self.transport.is_closing():
            return
        log.info("closed a connection that did not send its request within %.0f s", self.read_timeout)
        if not self.head_done:
            self.transport.write(_answer(408, "Request Timeout", "request not received in time"))
        self.transport.close()

    def _head_fits(self, data: bytes) -> bool:
        """Before parsing `data` of a head: False (and a 431 sent) when the head would pass the cap."""
        end = data.find(b"\r\n\r\n")
        if self.head_bytes + (len(data) if end < 0 else end + 4) <= self.max_head:
            return True
        self._disarm()
        message = f"request line and headers are over the {self.max_head}-byte limit"
        self.transport.write(_answer(431, "Request Header Fields Too Large", message))
        self.transport.close()
        return False


class HttpToolsLimits(_Guard, HttpToolsProtocol):
    """uvicorn's httptools protocol with the head cap and the read timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()
        self.mid_head = False

    def data_received(self, data: bytes) -> None:
        if not self.head_done and not self._head_fits(data):
            return
        super().data_received(data)
        if self.mid_head:
            self.head_bytes += len(data)  # a head began and is still incomplete after this chunk

    def on_message_begin(self) -> None:
        self.mid_head = True
        self._arm()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.head_done, self.mid_head = True, False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self.head_bytes, self.head_done = 0, False  # what comes next is the head of the next request
        super().on_message_complete()


class H11Limits(_Guard, H11Protocol):
    """uvicorn's h11 protocol with the head cap (431, not h11's 400) and the read timeout."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._guard_init()
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.max_head + H11_SLACK)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            if self.timer is None:  # the first byte of the next request
                self.head_bytes, self.head_done = 0, False
                self._arm()
            if not self._head_fits(data):
                return
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE:
            self.head_bytes += len(data)
        else:
            self.head_done = True
            if state is not h11.SEND_BODY:  # DONE (or closed): the whole request is in
                self._disarm()
