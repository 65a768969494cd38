"""noxrc on a terminal: colours (unless NO_COLOR) and transfer progress."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

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
    assert b"\x1b[" not in out


def test_progress_for_a_long_download_on_a_tty(server_url: str, sid: str,
                                               tmp_path: Path) -> None:
    c = noxrunner.NoxRunnerClient(server_url)
    c.create_sandbox(sid)
    r = c.exec(sid, ["sh", "-c", "head -c 60000000 /dev/urandom > big.bin"], timeout_seconds=60)
    assert r["exitCode"] == 0
    try:
        out_file = tmp_path / "ws.tar.gz"
        # On loopback 60 MB download in well under the half second progress
        # waits for; gzip level 9 (asked of the server through the client's
        # X-Nox-Gzip-Level) makes it a long download again.
        env = dict(os.environ, NO_COLOR="1", NOXRUNNER_GZIP_LEVEL="9")
        rc, out = run_on_tty([_noxrc(), "--base-url", server_url, "download", sid,
                              "--output", str(out_file)], env)
        assert rc == 0, out
        assert out_file.stat().st_size > 60_000_000
        assert b"downloading" in out, out[-500:]
        assert b"MiB" in out
    finally:
        c.delete_sandbox(sid)
        c.close()


def test_no_progress_when_not_a_tty(run_noxrc, server_url: str, sid: str,  # type: ignore[no-untyped-def]
                                    tmp_path: Path) -> None:
    c = noxrunner.NoxRunnerClient(server_url)
    c.create_sandbox(sid)
    try:
        r = run_noxrc("--base-url", server_url, "download", sid, "--output",
                      str(tmp_path / "x.tgz"))
        assert r.returncode == 0 and "downloading" not in r.stderr
    finally:
        c.delete_sandbox(sid)
        c.close()
