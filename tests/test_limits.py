"""Header cap (431) and read timeout (408 / close) on a real `edge serve`, with both HTTP parsers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_serve import wait_ready

TIMEOUT_S = 1.0  # EDGE_READ_TIMEOUT_S of the server under test (10 s by default)


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request: pytest.FixtureRequest, artifacts_dir: Path) -> Iterator[tuple[int, int]]:
    """`edge serve --http <parser>` on the embedded store: (port, pid)."""
    port = free_port()
    env = {**os.environ, "EDGE_ARTIFACTS": str(artifacts_dir), "EDGE_BUILD_IF_MISSING": "false",
           "EDGE_LOG_LEVEL": "warning", "EDGE_READ_TIMEOUT_S": str(TIMEOUT_S)}  # fmt: skip
    env.pop("EDGE_REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "serve", "--port", str(port), "--http", request.param], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S + 5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """One response with a content-length (keep-alive: the connection stays open)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def flood(port: int, limit: int = 32 << 20) -> tuple[int, bytes]:
    """One header of up to `limit` bytes, as an attacker would send it; (bytes sent, the answer)."""
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Big: ")
        sent = 0
        try:
            while sent < limit:
                sock.sendall(b"a" * 65536)
                sent += 65536
            answer = read_all(sock)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
    return sent, answer


def test_oversized_heads_are_refused_and_memory_stays_bounded(server: tuple[int, int]) -> None:
    port, pid = server
    before = rss_mb(pid)
    results = [flood(port) for _ in range(8)]
    for sent, answer in results:
        assert sent < 16 << 20, f"the server kept reading: {sent} bytes of one header"  # kernel buffers aside
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    assert rss_mb(pid) - before < 40, (before, rss_mb(pid))


def test_a_head_over_the_cap_gets_the_431_answer(server: tuple[int, int]) -> None:
    port = server[0]
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431 ") and b"16384-byte limit" in answer


def test_heads_under_the_cap_and_keep_alive_still_work(server: tuple[int, int]) -> None:
    port = server[0]
    body = b'{"session_id": "s-limits"}'
    request = (
        b"POST /v1/decide HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nX-Pad: " + b"p" * 12000
        + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip
    with connect(port) as sock:
        for _ in range(2):  # the same connection, twice
            sock.sendall(request)
            answer = read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200 ") and b'"segment"' in answer, answer[:80]


def test_a_half_sent_head_is_answered_408_and_closed(server: tuple[int, int]) -> None:
    port = server[0]
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n")
        answer = read_all(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert TIMEOUT_S * 0.8 < waited < TIMEOUT_S + 3


def test_a_half_sent_body_and_a_silent_connection_are_closed(server: tuple[int, int]) -> None:
    port = server[0]
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/decide HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"session_id\"")  # fmt: skip
        read_all(sock)
        assert time.monotonic() - started < TIMEOUT_S + 3
    with connect(port) as sock:
        started = time.monotonic()
        silent = read_all(sock)
        assert silent == b"" or silent.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < TIMEOUT_S + 3
