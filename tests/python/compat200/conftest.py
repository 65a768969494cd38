"""Run noxrunner 2.0.0's own tests against this package.

Its integration modules read NOXRUNNER_BASE_URL when they are imported, so
the noxrunnerd they talk to is started here, before they are collected
(a packaged noxrunnerd on a free loopback port), and stopped at the end.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from noxtest_support import Server  # noqa: E402

_server: Optional[Server] = None


def _start() -> None:
    global _server
    if _server is None:
        _server = Server()
        os.environ["NOXRUNNER_BASE_URL"] = _server.url


_start()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: marks tests as integration tests (run against noxrunnerd)")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
