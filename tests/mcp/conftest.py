"""Shared setup for the MCP tests: the server binary, the agent, a home."""
from __future__ import annotations

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("NOX_BUILD", ROOT / "build"))
MCP_BIN = os.environ.get("NOXRUNNER_MCP", str(BUILD / "noxrunner-mcp"))
AGENT = os.environ.get("NOXRUNNER_AGENT", str(BUILD / "nox-sandbox"))

TOOLS = {
    "create_sandbox", "exec", "write_file", "read_file", "list_files",
    "upload_archive", "download_archive", "touch", "delete_sandbox",
    "list_sandboxes",
}


@pytest.fixture
def home(tmp_path: pathlib.Path) -> str:
    d = tmp_path / "home"
    d.mkdir()
    return str(d)


def server_env(home: str) -> dict[str, str]:
    env = {"NOXRUNNER_HOME": home, "NOXRUNNER_AGENT": AGENT}
    for k in ("PATH", "NOXRUNNER_ISOLATION", "NOXRUNNER_CGROUP", "ASAN_OPTIONS",
              "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env
