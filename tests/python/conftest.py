"""Fixtures for the Python binding's tests.

They run against the INSTALLED package (tests/python/run.sh installs it
into a venv and runs pytest with --import-mode=importlib from here, where
no source tree shadows it); test_package.py checks that.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from noxtest_support import LISTEN_RE, Server, tmpdir  # noqa: E402

import noxrunner  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
@pytest.fixture(scope="session", autouse=True)
def _isolated_home() -> Iterator[str]:
    """Local sandboxes of this run live in a private NOXRUNNER_HOME."""
    home = tmpdir("noxpy-home-")
    old = os.environ.get("NOXRUNNER_HOME")
    os.environ["NOXRUNNER_HOME"] = home
    yield home
    if old is None:
        os.environ.pop("NOXRUNNER_HOME", None)
    else:
        os.environ["NOXRUNNER_HOME"] = old
    _kill_leftover_agents(home)
    shutil.rmtree(home, ignore_errors=True)


def _kill_leftover_agents(base: str) -> None:
    """Delete whatever sandboxes a failed test left behind."""
    try:
        client = noxrunner.NoxRunnerClient(local_test=True, base_dir=base)
        for sb in client.list_sandboxes():
            try:
                client.delete_sandbox(sb["sessionId"])
            except Exception:
                pass
        client.close()
    except Exception:
        pass


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def server_factory() -> Iterator[Callable[..., Server]]:
    """Start extra servers (e.g. with a token); stopped after the test."""
    started: List[Server] = []

    def make(token: Optional[str] = None) -> Server:
        s = Server(token=token)
        started.append(s)
        return s
    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def server_url(server: Server) -> str:
    return server.url


@pytest.fixture
def sid(request: pytest.FixtureRequest) -> str:
    """A unique session id for one test."""
    name = re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)[:40]
    return f"py-{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["local", "http"])
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(backend_name: str, request: pytest.FixtureRequest) -> Iterator[noxrunner.NoxRunnerClient]:
    """A NoxRunnerClient on each backend; sandboxes it made are deleted."""
    if backend_name == "local":
        c = noxrunner.NoxRunnerClient(local_test=True)
    else:
        url = request.getfixturevalue("server_url")
        c = noxrunner.NoxRunnerClient(url, timeout=30)
    yield c
    try:
        for sb in c.list_sandboxes():
            if str(sb["sessionId"]).startswith("py-"):
                try:
                    c.delete_sandbox(sb["sessionId"])
                except Exception:
                    pass
    except Exception:
        pass
    c.close()


def noxrc_argv() -> List[str]:
    """The installed console script."""
    exe = shutil.which("noxrc", path=os.path.dirname(sys.executable))
    assert exe, "the noxrc console script must be installed next to python"
    return [exe]


@pytest.fixture
def run_noxrc() -> Callable[..., "subprocess.CompletedProcess[str]"]:
    def run(*args: str, env: Optional[Dict[str, str]] = None, input: Optional[str] = None,
            timeout: float = 120) -> "subprocess.CompletedProcess[str]":
        e = dict(os.environ)
        e.pop("NO_COLOR", None)
        if env:
            e.update(env)
        return subprocess.run(noxrc_argv() + list(args), capture_output=True, text=True,
                              env=e, input=input, timeout=timeout)
    return run


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per backend for the scenarios, in the format every
    language's scenario runner prints (tests/scenarios/README.md)."""
    counts: Dict[str, List[int]] = {}
    for key, outcome in (("passed", 0), ("failed", 1)):
        for rep in terminalreporter.stats.get(key, []):
            m = re.search(r"test_scenario\[(local|http)-", getattr(rep, "nodeid", ""))
            if m and getattr(rep, "when", "call") == "call":
                counts.setdefault(m.group(1), [0, 0])[outcome] += 1
    for backend in ("local", "http"):
        if backend in counts:
            p, f = counts[backend]
            terminalreporter.write_line(f"python-{backend}: {p} passed, {f} failed")
