"""The Python scenario runner's self-test (tests/scenarios/selftest.py):
it passes expect_every_kind.json and fails every copy of it with one
expectation made wrong or one step malformed, at that step."""

from __future__ import annotations

import os
import subprocess
import sys

import noxrunner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def test_every_check_of_the_python_runner_can_fail() -> None:
    agent = noxrunner.agent_path()
    server = noxrunner.server_path()
    assert agent and server, "the package must ship noxrunnerd and nox-sandbox"
    env = dict(os.environ, NOXRUNNER_AGENT=agent, NOXRUNNERD=server)
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "scenarios", "selftest.py"),
                        sys.executable, os.path.join(HERE, "scenario_runner.py")],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-6000:]
    assert "broken copies failed" in p.stdout
