"""noxrc as a subprocess: 2.0.0's commands, flags and exit codes, plus
run, list, info, --json, colours and one-line errors."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest

Run = Callable[..., Any]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_help_lists_every_2_0_0_subcommand_and_flag(run_noxrc: Run) -> None:
    r = run_noxrc("--help")
    assert r.returncode == 0
    for word in ("health", "create", "exec", "upload", "download", "touch", "delete", "shell",
                 "run", "list", "info", "--base-url", "--local-test", "--timeout",
                 "--verbose", "--json", "NOXRUNNER_BASE_URL"):
        assert word in r.stdout, word
    for sub, flags in {"create": ["--ttl", "--image", "--cpu", "--mem", "--storage", "--wait",
                                  "--wait-timeout"],
                       "exec": ["--workdir", "--env", "--timeout-seconds",
                                "--ignore-exit-code"],
                       "upload": ["--dir", "--dest"],
                       "download": ["--src", "--output", "--extract"],
                       "shell": ["--workdir", "--timeout-seconds"]}.items():
        h = run_noxrc(sub, "--help").stdout
        for f in flags:
            assert f in h, (sub, f)


def test_no_command_prints_help_and_exits_1(run_noxrc: Run) -> None:
    r = run_noxrc()
    assert r.returncode == 1 and "usage" in r.stdout.lower()


def test_full_cycle_against_the_server(run_noxrc: Run, server_url: str, sid: str,
                                       tmp_path: Path) -> None:
    u = ("--base-url", server_url)
    r = run_noxrc(*u, "health")
    assert r.returncode == 0 and "healthy" in r.stdout
    r = run_noxrc(*u, "create", sid, "--ttl", "300", "--wait", "--wait-timeout", "20")
    assert r.returncode == 0, r.stderr
    assert "Sandbox created" in r.stdout and "ready" in r.stdout

    r = run_noxrc(*u, "exec", sid, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (r.returncode, r.stdout, r.stderr) == (5, "out\n", "err\n")
    r = run_noxrc(*u, "exec", sid, "--ignore-exit-code", "false")
    assert r.returncode == 0, r.stderr  # options right after the id are options
    r = run_noxrc(*u, "exec", sid, "--", "sh", "-c", "exit 4")
    assert r.returncode == 4
    r = run_noxrc(*u, "exec", "--env", "A=1", "--workdir", "/workspace", sid, "sh", "-c",
                  "echo $A")
    assert r.stdout == "1\n"

    f1 = tmp_path / "one.txt"
    f1.write_text("uno")
    r = run_noxrc(*u, "upload", sid, str(f1))
    assert r.returncode == 0 and "Uploaded 1 file(s)" in r.stdout
    d = tmp_path / "tree"
    (d / "in").mkdir(parents=True)
    (d / "in" / "two.txt").write_text("dos")
    r = run_noxrc(*u, "upload", sid, "--dir", str(d), "--dest", "/workspace/t")
    assert r.returncode == 0, r.stderr
    assert run_noxrc(*u, "exec", sid, "cat", "t/in/two.txt").stdout == "dos"

    out = tmp_path / "ws.tar.gz"
    r = run_noxrc(*u, "download", sid, "--output", str(out))
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as tar:
        assert any(n.endswith("one.txt") for n in tar.getnames())
    ex = tmp_path / "ex"
    r = run_noxrc(*u, "download", sid, "--extract", str(ex))
    assert r.returncode == 0 and (ex / "t" / "in" / "two.txt").read_text() == "dos"

    r = run_noxrc(*u, "touch", sid)
    assert r.returncode == 0 and "TTL extended" in r.stdout
    r = run_noxrc(*u, "list")
    assert r.returncode == 0 and sid in r.stdout
    r = run_noxrc(*u, "--json", "list")
    assert sid in [b["sessionId"] for b in json.loads(r.stdout)]
    r = run_noxrc(*u, "delete", sid)
    assert r.returncode == 0 and "Sandbox deleted" in r.stdout


def test_errors_are_one_line_without_traceback(run_noxrc: Run, server_url: str,
                                               sid: str) -> None:
    r = run_noxrc("--base-url", server_url, "exec", sid + "-missing", "true")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "404" in lines[0] and "Traceback" not in r.stderr
    r = run_noxrc("--base-url", server_url, "--verbose", "touch", sid + "-missing")
    assert r.returncode == 1 and "Traceback" in r.stderr
    r = run_noxrc("--base-url", "http://127.0.0.1:9", "delete", "x")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    r = run_noxrc("--base-url", "http://127.0.0.1:9", "health")
    assert r.returncode == 1


def test_base_url_from_environment(run_noxrc: Run, server_url: str) -> None:
    r = run_noxrc("health", env={"NOXRUNNER_BASE_URL": server_url})
    assert r.returncode == 0


def test_json_output(run_noxrc: Run, server_url: str, sid: str) -> None:
    u = ("--base-url", server_url, "--json")
    doc = json.loads(run_noxrc(*u, "create", sid).stdout)
    assert doc["ok"] and doc["podName"] and doc["sessionId"] == sid
    r = run_noxrc(*u, "exec", sid, "printf", "x")
    doc = json.loads(r.stdout)
    assert doc["exitCode"] == 0 and doc["stdout"] == "x" and doc["timedOut"] is False
    doc = json.loads(run_noxrc(*u, "info").stdout)
    assert doc["client"]["backend"] == "http" and "backend" in doc
    r = run_noxrc(*u, "exec", sid + "-nope", "true")
    assert r.returncode == 1 and json.loads(r.stderr)["code"] == "NOX_ENOTFOUND"
    assert json.loads(run_noxrc(*u, "delete", sid).stdout) == {"ok": True}


def test_no_colour_when_not_a_tty_or_no_color(run_noxrc: Run, server_url: str) -> None:
    r = run_noxrc("--base-url", server_url, "health")
    assert not ANSI.search(r.stdout + r.stderr)


def test_run_uploads_runs_downloads_and_deletes(run_noxrc: Run, server_url: str,
                                                tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "main.py").write_text(
        "import pathlib; pathlib.Path('result.txt').write_text('computed'); print('done')\n")
    out = tmp_path / "out"
    r = run_noxrc("--base-url", server_url, "run", "--dir", str(proj), "--output", str(out),
                  "--session", "py-cli-run", "--", "python3", "main.py")
    assert r.returncode == 0, r.stderr
    assert "done" in r.stdout
    assert (out / "result.txt").read_text() == "computed"
    lst = run_noxrc("--base-url", server_url, "--json", "list")
    assert "py-cli-run" not in lst.stdout
    r = run_noxrc("--base-url", server_url, "run", "--", "sh", "-c", "exit 9")
    assert r.returncode == 9


def test_local_test_mode(run_noxrc: Run, sid: str, tmp_path: Path) -> None:
    env = {"NOXRUNNER_HOME": str(tmp_path / "home")}
    r = run_noxrc("--local-test", "create", sid, env=env)
    assert r.returncode == 0, r.stderr
    r = run_noxrc("--local-test", "exec", sid, "echo", "local", env=env)
    assert r.returncode == 0 and r.stdout == "local\n"  # another process, same sandbox
    assert "Warning:" not in r.stderr and len(r.stderr.splitlines()) <= 1  # one-line warning
    r = run_noxrc("--local-test", "--json", "info", env=env)
    doc = json.loads(r.stdout)
    assert doc["client"]["backend"] == "local" and doc["isolation"] in ("none", "namespaces")
    r = run_noxrc("--local-test", "delete", sid, env=env)
    assert r.returncode == 0
    r = run_noxrc("--local-test", "delete", sid, env=env)
    assert r.returncode == 1  # 2.0.0: delete of an unknown local sandbox fails
