"""transfer_timeout: a whole upload or download over HTTP is bounded.

A peer in this process (loopback only; it gives up by itself after 10 s)
trickles a download one byte every 200 ms, or reads an upload slowly and
never answers. Before the option existed both calls waited until the peer
gave up; with transfer_timeout=1 they raise NoxRunnerTimeoutError after
about a second, naming the limit (issue 12 item 5).
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
import time
from typing import Iterator

import pytest

from noxrunner import _core
from noxrunner import AsyncNoxRunnerClient, NoxRunnerClient
from noxrunner.exceptions import InvalidArgumentError, NoxRunnerTimeoutError

PEER_LIFETIME = 10.0
QUICK_BODY = b"quick archive bytes"


class Peer:
    """A one-connection-at-a-time HTTP peer on 127.0.0.1 in `mode`:
    "trickle", "slow_read" or "quick"."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.end = time.monotonic() + PEER_LIFETIME
        self.stopped = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def over(self) -> bool:
        return self.stopped.is_set() or time.monotonic() >= self.end

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=PEER_LIFETIME + 5)
        self.sock.close()

    def _run(self) -> None:
        while not self.over():
            if not select.select([self.sock], [], [], 0.1)[0]:
                continue
            conn, _ = self.sock.accept()
            try:
                self._answer(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def _head(self, conn: socket.socket) -> bytes:
        head = b""
        while not self.over() and not head.endswith(b"\r\n\r\n"):
            if select.select([conn], [], [], 0.1)[0]:
                b = conn.recv(1)  # byte-wise: a body stays queued
                if not b:
                    return b""
                head += b
        return head

    def _answer(self, conn: socket.socket) -> None:
        head = self._head(conn)
        if b"/files/download" in head and self.mode == "trickle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"
                         b"Content-Length: 1000000\r\n\r\n")
            while not self.over():
                conn.sendall(b"x")
                time.sleep(0.2)
        elif b"/files/upload" in head and self.mode == "slow_read":
            while not self.over():
                if select.select([conn], [], [], 0.1)[0] and not conn.recv(65536):
                    return
                time.sleep(0.2)
        elif b"/files/download" in head and self.mode == "quick":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(QUICK_BODY), QUICK_BODY))
        else:
            body = b'{"error":"not found"}'
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(body), body))


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def peer(mode: str) -> Iterator[Peer]:
    p = Peer(mode)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def trickle() -> Iterator[Peer]:
    yield from peer("trickle")


@pytest.fixture
def slow_read() -> Iterator[Peer]:
    yield from peer("slow_read")


@pytest.fixture
def quick() -> Iterator[Peer]:
    yield from peer("quick")


def test_trickled_download_fails_at_transfer_timeout(trickle: Peer) -> None:
    # Idle limit (timeout) 2 s: a byte comes every 200 ms, so only the
    # 1 s transfer deadline can end this.
    c = NoxRunnerClient(trickle.url, timeout=2, transfer_timeout=1)
    t0 = time.monotonic()
    with pytest.raises(NoxRunnerTimeoutError) as ei:
        c.download_files("s")
    took = time.monotonic() - t0
    c.close()
    assert "within 1000 ms (transfer_timeout_ms)" in str(ei.value)
    assert 0.9 <= took < 5, took


def test_slowly_read_upload_fails_at_transfer_timeout(slow_read: Peer) -> None:
    # A long idle limit: the client's send buffer drains in big steps.
    c = NoxRunnerClient(slow_read.url, timeout=8, transfer_timeout=1)
    t0 = time.monotonic()
    with pytest.raises(NoxRunnerTimeoutError) as ei:
        c.upload_files("s", {"big.bin": os.urandom(8 << 20)})
    took = time.monotonic() - t0
    c.close()
    assert "within 1000 ms (transfer_timeout_ms)" in str(ei.value)
    assert 0.9 <= took < 5, took


def test_quick_download_succeeds_under_the_same_deadline(quick: Peer) -> None:
    c = NoxRunnerClient(quick.url, timeout=2, transfer_timeout=1)
    assert c.download_files("s") == QUICK_BODY
    c.close()


def test_async_client_takes_transfer_timeout(trickle: Peer) -> None:
    async def go() -> float:
        async with AsyncNoxRunnerClient(trickle.url, timeout=2, transfer_timeout=0.5) as ac:
            t0 = time.monotonic()
            with pytest.raises(NoxRunnerTimeoutError, match="within 500 ms"):
                await ac.download_files("s")
            return time.monotonic() - t0
    took = asyncio.run(go())
    assert took < 5, took


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), 5e6, "1", True])
def test_bad_transfer_timeout_is_refused(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="transfer_timeout"):
        NoxRunnerClient("http://127.0.0.1:9", transfer_timeout=bad)  # type: ignore[arg-type]


def test_the_core_is_version_0_3() -> None:
    assert _core.core_version().startswith("0.3.")
