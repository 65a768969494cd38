"""noxrc on a terminal: colours (unless NO_COLOR) and transfer progress."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

import noxrunner


def _noxrc() -> str:
    exe = shutil.which("noxrc", path=os.path.dirname(sys.executable))
    assert exe
    return exe


def run_on_tty(argv: List[str], env: Dict[str, str], timeout: float = 120) -> Tuple[int, bytes]:
    """Run with stdout and stderr on a pseudo-terminal; all it printed."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    rc = p.wait(timeout)
    os.close(master)
    return rc, out


def test_colours_on_a_tty_and_never_with_no_color(server_url: str) -> None:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    rc, out = run_on_tty([_noxrc(), "--base-url", server_url, "health"], env)
    assert rc == 0 and b"\x1b[0;32m" in out
    env["NO_COLOR"] = "1"
    rc, out = run_on_tty([_noxrc(), "--base-url", server_url, "health"], env)
    assert rc == 0 and b"\x1b[" not in out and b"healthy" in out
    env.pop("NO_COLOR")
    rc, out = run_on_tty([_noxrc(), "--no-color", "--base-url", server_url, "health"], env)
    assert rc == 0 and b"\x1b[" not in out and b"healthy" in out


@pytest.fixture(scope="module")
def big_sandbox(server_url: str) -> Iterator[str]:
    """A sandbox whose workspace is a long download: 60 MB of random data,
    asked of the server at gzip level 9 by the tests below."""
    sid = f"py-tty-big-{uuid.uuid4().hex[:8]}"
    c = noxrunner.NoxRunnerClient(server_url)
    c.create_sandbox(sid)
    try:
        r = c.exec(sid, ["sh", "-c", "head -c 60000000 /dev/urandom > big.bin"],
                   timeout_seconds=60)
        assert r["exitCode"] == 0
        yield sid
    finally:
        c.delete_sandbox(sid)
        c.close()


def test_progress_for_a_long_download_on_a_tty(server_url: str, big_sandbox: str,
                                               tmp_path: Path) -> None:
    out_file = tmp_path / "ws.tar.gz"
    # On loopback 60 MB download in well under the half second progress
    # waits for; gzip level 9 (asked of the server through the client's
    # X-Nox-Gzip-Level) makes it a long download again.
    env = dict(os.environ, NO_COLOR="1", NOXRUNNER_GZIP_LEVEL="9")
    rc, out = run_on_tty([_noxrc(), "--base-url", server_url, "download", big_sandbox,
                          "--output", str(out_file)], env)
    assert rc == 0, out
    assert out_file.stat().st_size > 60_000_000
    assert b"downloading" in out, out[-500:]
    assert b"MiB" in out


def test_no_progress_when_not_a_tty(run_noxrc, server_url: str, big_sandbox: str,  # type: ignore[no-untyped-def]
                                    tmp_path: Path) -> None:
    # The same long download that shows progress on a terminal (above):
    # an empty workspace would never show any, terminal or not.
    out_file = tmp_path / "x.tgz"
    r = run_noxrc("--base-url", server_url, "download", big_sandbox, "--output",
                  str(out_file), env=dict(os.environ, NOXRUNNER_GZIP_LEVEL="9"))
    assert r.returncode == 0, r.stderr
    assert out_file.stat().st_size > 60_000_000
    assert "downloading" not in r.stderr and "MiB" not in r.stderr
