"""noxrc without surprises (issue #16): a streamed upload, a hint when
there is no server, unknown exec options refused, the reason a delete
failed, and a shell directory that follows `cd` inside compound lines.
Each drives the installed noxrc against a real sandbox."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest

import noxrunner
from conftest import noxrc_argv

Run = Callable[..., Any]
NO_SERVER = "http://127.0.0.1:9"  # loopback, nothing listens on discard


def _run_measured(argv: List[str]) -> Tuple[int, str, str, int]:
    """Run noxrc; (exit code, stdout, stderr, its own peak RSS in bytes),
    the peak from wait4() of that one child."""
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    p = subprocess.Popen(noxrc_argv() + argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env)
    assert p.stdout is not None and p.stderr is not None
    out = p.stdout.read()  # small: a line or two on each
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    _pid, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, out.decode(), err.decode(), usage.ru_maxrss * 1024


def _big_file(path: Path, mib: int) -> str:
    """A file of mib MiB that is not all one byte; its sha256."""
    h = hashlib.sha256()
    block = bytearray(os.urandom(1 << 20))
    with open(path, "wb") as f:
        for i in range(mib):
            block[:8] = i.to_bytes(8, "little")
            f.write(block)
            h.update(block)
    return h.hexdigest()


# ---- 1. upload is streamed ---------------------------------------------------

def test_upload_of_a_large_file_is_streamed(run_noxrc: Run, server_url: str, sid: str,
                                            tmp_path: Path) -> None:
    mib = 128
    big = tmp_path / "big.bin"
    digest = _big_file(big, mib)
    u = ["--base-url", server_url]
    assert run_noxrc(*u, "create", sid).returncode == 0
    try:
        rc, out, err, peak = _run_measured(u + ["upload", sid, str(big)])
        assert rc == 0, err
        assert "Uploaded 1 file(s)" in out
        # Reading the file into memory (the old way) peaks above the file's
        # size; streamed, the process stays at its own small footprint.
        assert peak < (mib << 20) // 2, f"peak RSS {peak >> 20} MiB for a {mib} MiB file"
        r = run_noxrc(*u, "exec", sid, "sh", "-c", "sha256sum big.bin; stat -c %s:%a big.bin")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [digest, "big.bin", f"{mib << 20}:644"]
    finally:
        run_noxrc(*u, "delete", sid)


def test_upload_of_files_local_creates_the_sandbox_as_2_0_0(run_noxrc: Run, sid: str,
                                                            tmp_path: Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("alpha")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "a.txt").write_text("later one wins")
    (tmp_path / "empty").write_bytes(b"")
    r = run_noxrc("--local-test", "upload", sid, str(a), str(tmp_path / "empty"),
                  "--dest", "/workspace/in")
    try:
        assert r.returncode == 0, r.stderr
        assert "Uploaded 2 file(s) to /workspace/in" in r.stdout
        r = run_noxrc("--local-test", "exec", sid, "sh", "-c",
                      "cat in/a.txt; echo; wc -c < in/empty")
        assert r.stdout.split() == ["alpha", "0"]
        r = run_noxrc("--local-test", "upload", sid, str(a), str(sub / "a.txt"))
        assert r.returncode == 0, r.stderr
        r = run_noxrc("--local-test", "exec", sid, "cat", "a.txt")
        assert r.stdout == "later one wins"
        # A pipe as the file (`noxrc upload ID <(cmd)`): its contents, as 2.0.0.
        fifo = tmp_path / "fifo.txt"
        os.mkfifo(fifo)
        feeder = threading.Thread(target=lambda: fifo.write_bytes(b"from a pipe"))
        feeder.start()
        r = run_noxrc("--local-test", "upload", sid, str(fifo), timeout=60)
        feeder.join()
        assert r.returncode == 0, r.stderr
        assert run_noxrc("--local-test", "exec", sid, "cat", "fifo.txt").stdout == "from a pipe"
    finally:
        run_noxrc("--local-test", "delete", sid)


def test_upload_failure_says_why_and_does_not_hang(run_noxrc: Run, server_url: str, sid: str,
                                                   tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    _big_file(f, 8)  # more than a pipe holds: the writer must not block forever
    r = run_noxrc("--base-url", server_url, "upload", sid + "-missing", str(f), timeout=60)
    assert r.returncode == 1
    assert "Upload failed" in r.stderr and "404" in r.stderr, r.stderr
    r = run_noxrc("--base-url", server_url, "upload", sid, str(f), "--dest", "/etc",
                  timeout=60)
    assert r.returncode == 1 and "Upload failed" in r.stderr


# ---- 2. no server: a hint -----------------------------------------------------

def test_no_server_error_says_how_to_point_at_one(run_noxrc: Run) -> None:
    for argv in (["run", "--", "true"], ["exec", "s", "true"], ["list"], ["health"]):
        r = run_noxrc("--base-url", NO_SERVER, *argv)
        assert r.returncode == 1, argv
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr  # still one line
        assert "127.0.0.1:9" in lines[0], lines
        for word in ("--base-url", "NOXRUNNER_BASE_URL", "--local-test"):
            assert word in lines[0], (argv, word, lines)
    r = run_noxrc("--base-url", NO_SERVER, "--json", "run", "--", "true")
    doc = json.loads(r.stderr)
    assert doc["code"] == "NOX_ECONNECT" and "--local-test" in doc["hint"]
    # Errors that are not about reaching the server get no such hint.
    r = run_noxrc("--local-test", "delete", "py-never-made")
    assert r.returncode == 1 and "--base-url" not in r.stderr


# ---- 3. exec: unknown options are errors ----------------------------------------

def _local_sessions() -> List[str]:
    with noxrunner.NoxRunnerClient(local_test=True) as c:
        return [str(b["sessionId"]) for b in c.list_sandboxes()]


def test_exec_unknown_option_is_an_error_and_creates_nothing(run_noxrc: Run, sid: str,
                                                            server_url: str) -> None:
    for where in (["--local-test"], ["--base-url", server_url]):
        r = run_noxrc(*where, "exec", sid, "--bogus-flag", "true")
        assert r.returncode == 2, (where, r.stdout, r.stderr)
        assert "unrecognized arguments: --bogus-flag" in r.stderr
        assert "usage: noxrc exec" in r.stderr
        r = run_noxrc(*where, "exec", sid, "--workdir", "/tmp", "-x")
        assert r.returncode == 2 and "-x" in r.stderr
    assert sid not in _local_sessions()
    with noxrunner.NoxRunnerClient(server_url) as c:
        assert sid not in [b["sessionId"] for b in c.list_sandboxes()]


def test_exec_command_starting_with_dash_after_separator(run_noxrc: Run, sid: str) -> None:
    lt = "--local-test"
    try:
        r = run_noxrc(lt, "exec", sid, "--", "sh", "-c",
                      "mkdir -p bin && printf '#!/bin/sh\\necho dash:$1\\n' > bin/-hi && "
                      "chmod +x bin/-hi")
        assert r.returncode == 0, r.stderr
        r = run_noxrc(lt, "exec", sid, "--workdir", "/workspace/bin", "--", "./-hi", "--x")
        assert (r.returncode, r.stdout) == (0, "dash:--x\n"), r.stderr
        r = run_noxrc(lt, "exec", sid, "--env", "PATH=/workspace/bin:/usr/bin:/bin", "--",
                      "-hi", "y")
        assert (r.returncode, r.stdout) == (0, "dash:y\n"), r.stderr
        r = run_noxrc(lt, "exec", sid, "--ignore-exit-code", "--", "sh", "-c", "exit 3")
        assert r.returncode == 0, r.stderr
        r = run_noxrc(lt, "exec", sid, "sh", "-c", "exit 4")  # options of the command
        assert r.returncode == 4
        r = run_noxrc(lt, "exec", sid, "--help")
        assert r.returncode == 0 and "usage: noxrc exec" in r.stdout
    finally:
        run_noxrc(lt, "delete", sid)


# ---- 4. delete says why ---------------------------------------------------------

def test_delete_of_unknown_sandbox_says_why(run_noxrc: Run, server_url: str, sid: str) -> None:
    for where in (["--local-test"], ["--base-url", server_url]):
        r = run_noxrc(*where, "delete", sid + "-nope")
        assert r.returncode == 1, (where, r.stdout)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("✗ Delete failed: "), r.stderr
        assert "no sandbox" in lines[0].lower() or "not found" in lines[0].lower(), lines
        assert sid + "-nope" in lines[0], lines
        r = run_noxrc(*where, "--json", "delete", sid + "-nope")
        assert r.returncode == 1
        assert json.loads(r.stderr)["code"] == "NOX_ENOTFOUND"


# ---- 5. shell: the directory follows cd in any line --------------------------------

def _prompts(out: str, sid: str) -> List[str]:
    marker = f"noxrunner:{sid}:"
    return [p.split("$ ", 1)[0] for p in out.split(marker)[1:]]


@pytest.mark.parametrize("backend", ["local", "http"])
def test_shell_directory_follows_cd_in_compound_lines(run_noxrc: Run, server_url: str,
                                                      sid: str, backend: str) -> None:
    where = ["--local-test"] if backend == "local" else ["--base-url", server_url]
    assert run_noxrc(*where, "create", sid).returncode == 0
    lines = ["mkdir -p sub/deeper && cd sub",
             "pwd",
             "cd deeper; printf no-newline",
             "cd /nonexistent && echo never",
             "cd .. && false",
             "cd",
             "cd sub; exit 7",
             "sh -c 'exit 3'",
             "exit"]
    try:
        r = run_noxrc(*where, "shell", sid, input="\n".join(lines) + "\n")
        assert r.returncode == 0, r.stderr
        assert _prompts(r.stdout, sid) == [
            "/workspace",             # before line 1
            "/workspace/sub",         # mkdir -p sub/deeper && cd sub
            "/workspace/sub",         # pwd
            "/workspace/sub/deeper",  # cd deeper; printf
            "/workspace/sub/deeper",  # cd /nonexistent && ...: the cd failed
            "/workspace/sub",         # cd .. && false: still followed
            "/workspace",             # cd alone: /workspace
            "/workspace",             # ...; exit 7: the line did not end
            "/workspace",             # sh -c 'exit 3'
        ], r.stdout
        assert "/workspace/sub\n" in r.stdout  # pwd ran in sub
        assert "no-newlinenoxrunner:" in r.stdout  # output kept, marker gone
        assert "\x1e" not in r.stdout and "noxrc-pwd" not in r.stdout + r.stderr
        assert "never" not in r.stdout
        for code in (1, 7, 3):
            assert f"Command exited with code {code}" in r.stdout, code
    finally:
        run_noxrc(*where, "delete", sid)
