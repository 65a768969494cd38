"""The interactive shell through a pseudo-terminal: line editing, history
and a working directory that follows `cd`."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest



def noxrc_path() -> str:
    import shutil

    exe = shutil.which("noxrc", path=os.path.dirname(sys.executable))
    assert exe
    return exe

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|[\x01\x02]")


def _controlling_tty() -> None:
    """In the child: a new session whose controlling terminal is the pty,
    so ^C becomes SIGINT as in a real terminal. SIGINT and SIGQUIT go back
    to their defaults: a test run started in the background of a
    non-interactive shell inherits them ignored, and Python then leaves
    SIGINT ignored too, so ^C would never reach the shell under test."""
    import fcntl
    import signal
    import termios

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Pty:
    def __init__(self, argv: List[str], env: dict) -> None:  # type: ignore[type-arg]
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     preexec_fn=_controlling_tty, close_fds=True)
        os.close(slave)
        self.buf = b""

    def expect(self, pattern: bytes, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            clean = ANSI.sub(b"", self.buf)
            m = rx.search(clean)
            if m:
                self.buf = clean[m.end():]
                return clean[:m.end()]
            r, _, _ = select.select([self.master], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.buf += data
        raise AssertionError(f"timed out waiting for {pattern!r}; got {ANSI.sub(b'', self.buf)!r}")

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def close(self) -> int:
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            rc = self.proc.wait()
        os.close(self.master)
        return rc


@pytest.fixture
def shell(server_url: str, sid: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    import noxrunner

    c = noxrunner.NoxRunnerClient(server_url)
    c.create_sandbox(sid)
    c.exec(sid, ["mkdir", "-p", "/workspace/sub/deeper"])
    c.upload_files(sid, {"sub/marker.txt": "in-sub"})
    env = dict(os.environ, TERM="xterm", HOME=str(tmp_path), XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("NO_COLOR", None)
    p = Pty([noxrc_path(), "--base-url", server_url, "shell", sid], env)
    yield p, tmp_path
    try:
        c.delete_sandbox(sid)
    finally:
        c.close()


def test_shell_runs_commands_and_tracks_cd(shell) -> None:  # type: ignore[no-untyped-def]
    p, home = shell
    p.expect(rb"noxrunner:[^:]+:/workspace\$ ")
    p.send(b"echo hello | tr a-z A-Z\r")
    p.expect(rb"HELLO")
    p.expect(rb"/workspace\$ ")
    p.send(b"cd sub\r")
    p.expect(rb":/workspace/sub\$ ")
    p.send(b"cat marker.txt; pwd\r")
    out = p.expect(rb":/workspace/sub\$ ")
    assert b"in-sub" in out and b"/workspace/sub" in out
    p.send(b"cd deeper\r")
    p.expect(rb":/workspace/sub/deeper\$ ")
    p.send(b"cd ..\r")
    p.expect(rb":/workspace/sub\$ ")
    p.send(b"cd /nonexistent-dir\r")
    out = p.expect(rb":/workspace/sub\$ ")
    assert b"cd:" in out
    p.send(b"cd\r")
    p.expect(rb":/workspace\$ ")
    p.send(b"sh -c 'exit 3'\r")
    out = p.expect(rb"/workspace\$ ")
    assert b"exited with code 3" in out
    p.send(b"exit\r")
    assert p.close() == 0
    hist = (home / "state" / "noxrunner" / "noxrc_history").read_text()
    assert "cd sub" in hist and "echo hello | tr a-z A-Z" in hist


def test_shell_line_editing_and_history_recall(shell) -> None:  # type: ignore[no-untyped-def]
    p, _home = shell
    p.expect(rb"/workspace\$ ")
    # Type "echo wrld", move left 3 and insert "o": readline editing.
    p.send(b"echo wrld\x1b[D\x1b[D\x1b[Do\r")
    p.expect(rb"world\r?\n")
    p.expect(rb"/workspace\$ ")
    # Up arrow recalls the previous line.
    p.send(b"\x1b[A\r")
    p.expect(rb"world\r?\n")
    p.expect(rb"/workspace\$ ")
    p.send(b"\x04")  # Ctrl-D ends the shell
    assert p.close() == 0


def test_ctrl_c_stops_a_running_command_not_the_shell(shell) -> None:  # type: ignore[no-untyped-def]
    p, _home = shell
    p.expect(rb"/workspace\$ ")
    p.send(b"echo started; sleep 30\r")
    p.expect(rb"started")
    time.sleep(0.5)
    t0 = time.monotonic()
    p.send(b"\x03")
    p.expect(rb"/workspace\$ ", timeout=10)
    assert time.monotonic() - t0 < 10
    p.send(b"echo still-here\r")
    p.expect(rb"still-here")
    p.send(b"exit\r")
    assert p.close() == 0


def test_local_shell_creates_its_sandbox_and_keeps_it(sid: str, tmp_path: Path) -> None:
    import noxrunner

    home = str(tmp_path / "home")
    env = dict(os.environ, TERM="xterm", NO_COLOR="1", HOME=str(tmp_path),
               NOXRUNNER_HOME=home, XDG_STATE_HOME=str(tmp_path / "state"))
    p = Pty([noxrc_path(), "--local-test", "shell", sid], env)
    p.expect(rb"/workspace\$ ")
    p.send(b"echo kept > f.txt; echo $HOME\r")
    p.expect(rb"/workspace\r?\n")
    p.send(b"exit\r")
    assert p.close() == 0
    c = noxrunner.NoxRunnerClient(local_test=True, base_dir=home)
    try:
        assert c.exec(sid, ["cat", "f.txt"])["stdout"] == "kept\n"
    finally:
        c.delete_sandbox(sid)
        c.close()
