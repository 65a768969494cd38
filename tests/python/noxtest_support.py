"""Shared helpers for the Python tests (no pytest fixtures here):
starting the packaged noxrunnerd."""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Optional

import noxrunner

LISTEN_RE = re.compile(r"noxrunnerd listening on (http://\S+)")


def tmpdir(prefix: str) -> str:
    # Short paths: unix socket names are limited to 108 bytes.
    return tempfile.mkdtemp(prefix=prefix, dir="/tmp")


class Server:
    """A noxrunnerd started from the installed package."""

    def __init__(self, token: Optional[str] = None) -> None:
        exe = noxrunner.server_path()
        agent = noxrunner.agent_path()
        assert exe and agent, "the package must ship noxrunnerd and nox-sandbox"
        self.base_dir = tmpdir("noxpy-srv-")
        argv = [exe, "--port", "0", "--base-dir", self.base_dir, "--agent", agent]
        if token:
            argv += ["--token", token]
        self.token = token
        self.log = open(self.base_dir + ".log", "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log)
        self.url = self._read_url()

    def _read_url(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                ch = os.read(self.proc.stdout.fileno(), 4096)
                if not ch:
                    break
                buf += ch
                if b"\n" in buf:
                    line = buf.split(b"\n", 1)[0].decode("utf-8", "replace")
                    m = LISTEN_RE.search(line)
                    if not m:
                        raise RuntimeError(f"unexpected first line from noxrunnerd: {line!r}")
                    return m.group(1)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"noxrunnerd did not start (exit {self.proc.poll()}), "
                           f"log: {self.log.name}")

    def stop(self) -> None:
        if self.log.closed:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.base_dir, ignore_errors=True)
