"""NoxRunnerClient and the idioms beyond 2.0.0, on both backends (the HTTP
ones against a real noxrunnerd)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any, List

import pytest

import noxrunner
from noxrunner import (AsyncNoxRunnerClient, ExecResult, NoxRunnerClient, NoxRunnerError,
                       NoxRunnerHTTPError, OutputChunk, SandboxNotFoundError)


def test_health(client: NoxRunnerClient) -> None:
    assert client.health_check() is True


def test_create_returns_pod_and_expiry(client: NoxRunnerClient, sid: str) -> None:
    r = client.create_sandbox(sid, ttl_seconds=300)
    assert set(r) == {"podName", "expiresAt"}
    assert r["podName"]
    assert r["expiresAt"].endswith("Z")
    assert client.create_sandbox(sid) ["podName"] == r["podName"]  # idempotent


def test_exec_result_is_the_2_0_0_dict_with_bytes_beside_it(client: NoxRunnerClient,
                                                            sid: str) -> None:
    client.create_sandbox(sid)
    r = client.exec(sid, ["sh", "-c", "printf 'hi\\n'; printf 'err' >&2; exit 3"])
    assert set(r) == {"exitCode", "stdout", "stderr", "durationMs"}
    assert (r["exitCode"], r["stdout"], r["stderr"]) == (3, "hi\n", "err")
    assert isinstance(r["durationMs"], int)
    assert isinstance(r, ExecResult) and r.stdout_bytes == b"hi\n" and r.exit_code == 3
    assert json.loads(json.dumps(r)) == dict(r)


def test_non_utf8_output_keeps_raw_bytes(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    r = client.exec(sid, ["printf", "a\\377\\000b"])
    assert r["exitCode"] == 0
    assert isinstance(r, ExecResult)
    assert r.stdout_bytes == b"a\xff\x00b"
    assert r["stdout"] == "a\ufffd\x00b"


def test_argv_is_never_a_shell_and_env_expands_only_in_one(client: NoxRunnerClient,
                                                            sid: str) -> None:
    client.create_sandbox(sid)
    assert client.exec(sid, ["echo", "$X"], env={"X": "v"})["stdout"] == "$X\n"
    assert client.exec(sid, ["sh", "-c", "echo $X"], env={"X": "v"})["stdout"] == "v\n"
    assert client.exec_shell(sid, 'echo "$A:$B" | tr a-z A-Z',
                             env={"A": "x", "B": "y"})["stdout"] == "X:Y\n"
    assert client.exec_shell(sid, "echo $0", shell="bash")["stdout"].strip() == "bash"


def test_clean_environment(client: NoxRunnerClient, sid: str) -> None:
    os.environ["NOXPY_SECRET_SHOULD_NOT_LEAK"] = "1"
    try:
        client.create_sandbox(sid)
        r = client.exec(sid, ["env"])
        assert "NOXPY_SECRET_SHOULD_NOT_LEAK" not in r["stdout"]
        assert "HOME=/workspace" in r["stdout"]
    finally:
        del os.environ["NOXPY_SECRET_SHOULD_NOT_LEAK"]


def test_stdin(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    assert client.exec(sid, ["cat"], stdin="fed\n")["stdout"] == "fed\n"
    assert client.exec(sid, ["cat"])["stdout"] == ""  # never the caller's stdin


def test_timeout_is_a_result_not_an_error(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    t0 = time.monotonic()
    r = client.exec(sid, ["sh", "-c", "echo partial; sleep 30"], timeout_seconds=1)
    assert time.monotonic() - t0 < 15
    assert r["exitCode"] == 124
    assert isinstance(r, ExecResult) and r.timed_out
    assert "timed out" in r["stderr"].lower()  # as 2.0.0 said


def test_workdir_and_absolute_workspace_paths(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    assert client.exec(sid, ["mkdir", "-p", "/workspace/sub"])["exitCode"] == 0
    assert client.exec(sid, ["pwd"], workdir="/workspace/sub")["stdout"] == "/workspace/sub\n"
    client.exec(sid, ["sh", "-c", "echo t > /workspace/sub/t.txt"])
    assert client.exec_shell(sid, "cat t.txt", workdir="/workspace/sub")["stdout"] == "t\n"


def test_upload_download_roundtrip(client: NoxRunnerClient, sid: str, tmp_path: Path) -> None:
    client.create_sandbox(sid)
    files = {"a.txt": "text ✓", "bin.dat": b"\x00\x01\xff", "sub/dir/c.txt": "nested"}
    assert client.upload_files(sid, files) is True
    assert client.exec(sid, ["cat", "sub/dir/c.txt"])["stdout"] == "nested"
    data = client.download_files(sid)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = {n.lstrip("./").rstrip("/") for n in tar.getnames()}
        assert {"a.txt", "bin.dat", "sub/dir/c.txt"} <= names
        f = tar.extractfile([m for m in tar.getmembers() if m.name.endswith("bin.dat")][0])
        assert f is not None and f.read() == b"\x00\x01\xff"
    out = tmp_path / "out"
    assert client.download_workspace(sid, out) is True
    assert (out / "a.txt").read_text() == "text ✓"
    assert (out / "sub" / "dir" / "c.txt").read_text() == "nested"


def test_upload_to_dest_and_download_src(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    client.upload_files(sid, {"x.txt": "x"}, dest="/workspace/deep/er")
    assert client.exec(sid, ["cat", "/workspace/deep/er/x.txt"])["stdout"] == "x"
    data = client.download_files(sid, src="/workspace/deep")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert any(n.endswith("er/x.txt") for n in tar.getnames())


def test_upload_refuses_names_that_leave_dest(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    for bad in ("../../outside.txt", "/etc/evil", "a/../../b"):
        with pytest.raises(noxrunner.InvalidArgumentError):
            client.upload_files(sid, {bad: "x"})


def test_upload_dir_and_download_to_dir(client: NoxRunnerClient, sid: str,
                                        tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "main.py").write_text("print('main')\n")
    (src / "pkg" / "data.txt").write_text("d")
    os.symlink("main.py", src / "link.py")
    client.create_sandbox(sid)
    client.upload_dir(sid, src)
    assert client.exec(sid, ["python3", "link.py"])["stdout"] == "main\n"
    dest = tmp_path / "dest"
    client.download_to_dir(sid, dest)
    assert (dest / "pkg" / "data.txt").read_text() == "d"
    assert os.readlink(dest / "link.py") == "main.py"


def test_list_and_get(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    ids = [b["sessionId"] for b in client.list_sandboxes()]
    assert sid in ids
    got = client.get_sandbox(sid)
    assert got["sessionId"] == sid and got["podName"]


def test_info_and_isolation(client: NoxRunnerClient) -> None:
    info = client.info()
    assert isinstance(info, dict) and info
    assert client.isolation in ("none", "namespaces", "auto")


def test_session_ids_with_odd_characters(client: NoxRunnerClient, sid: str) -> None:
    for s in (sid + "/slash", sid + " space", sid + "-ünï", sid + "?a=b&c#d"):
        client.create_sandbox(s)
        assert client.exec(s, ["echo", "ok"])["stdout"] == "ok\n"
        assert client.delete_sandbox(s) is True


def test_sandbox_object_is_deleted_on_exit(client: NoxRunnerClient, sid: str) -> None:
    with client.sandbox(sid, ttl_seconds=120) as sb:
        assert sb.info and sb.pod_name
        sb.upload_files({"run.sh": "#!/bin/sh\necho ran\n"}, modes={"run.sh": 0o755})
        assert sb.exec(["/workspace/run.sh"])["stdout"] == "ran\n"
        assert sb.exec_shell("echo $((6*7))")["stdout"] == "42\n"
        sb.touch()
    assert sid not in [b["sessionId"] for b in client.list_sandboxes()]
    with client.sandbox(sid, keep=True) as sb:
        sb.exec(["true"])
    assert sid in [b["sessionId"] for b in client.list_sandboxes()]
    client.delete_sandbox(sid)


def test_sandbox_object_raises_typed_errors(client: NoxRunnerClient, sid: str) -> None:
    sb = client.sandbox(sid)
    with pytest.raises(SandboxNotFoundError) as ei:
        sb.exec(["true"])
    assert ei.value.code == "NOX_ENOTFOUND" and ei.value.status_code == 404
    assert sid in str(ei.value)


def test_stream_yields_chunks_then_result(client: NoxRunnerClient, sid: str) -> None:
    with client.sandbox(sid) as sb:
        events = list(sb.stream(["sh", "-c", "echo one; sleep 0.3; echo two >&2; exit 7"]))
    chunks = [e for e in events if isinstance(e, OutputChunk)]
    assert isinstance(events[-1], ExecResult) and events[-1]["exitCode"] == 7
    assert b"".join(c.data for c in chunks if c.stream == "stdout") == b"one\n"
    assert b"".join(c.data for c in chunks if c.stream == "stderr") == b"two\n"
    assert all(not isinstance(e, ExecResult) for e in events[:-1])


def test_stream_output_arrives_before_the_command_ends(client: NoxRunnerClient,
                                                        sid: str) -> None:
    with client.sandbox(sid) as sb:
        t0 = time.monotonic()
        st = sb.stream(["sh", "-c", "echo early; sleep 20; echo late"])
        first = next(iter(st))
        assert isinstance(first, OutputChunk) and first.data == b"early\n"
        # Long before the 20 s sleep ends, with a margin for a loaded host.
        assert time.monotonic() - t0 < 10
        st.close()


def test_breaking_out_of_a_stream_kills_the_command(client: NoxRunnerClient,
                                                    sid: str) -> None:
    with client.sandbox(sid) as sb:
        for ev in sb.stream(["sh", "-c", "echo $$ > pid; echo go; sleep 30; touch survived"]):
            assert isinstance(ev, OutputChunk)
            break
        time.sleep(1.0)
        r = sb.exec_shell("kill -0 $(cat pid) 2>/dev/null && echo alive || echo gone")
        assert r["stdout"] == "gone\n"
        assert sb.exec(["test", "-e", "survived"])["exitCode"] != 0


def test_stream_cancel_from_another_thread(client: NoxRunnerClient, sid: str) -> None:
    with client.sandbox(sid) as sb:
        st = sb.stream(["sleep", "30"])
        threading.Timer(0.5, st.cancel).start()
        t0 = time.monotonic()
        with pytest.raises(noxrunner.CanceledError):
            for _ in st:
                pass
        assert time.monotonic() - t0 < 10


def test_gil_is_released_during_c_calls(client: NoxRunnerClient, sid: str) -> None:
    """Two 3-second commands from two threads take ~3 s (one after the
    other: 6 s), and a Python thread keeps running meanwhile."""
    client.create_sandbox(sid)
    client.exec(sid, ["true"])
    ticks: List[int] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.01)
    results: List[Any] = []
    t = threading.Thread(target=ticker)
    t.start()
    t0 = time.monotonic()
    workers = [threading.Thread(target=lambda: results.append(
        client.exec(sid, ["sleep", "3"]))) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.monotonic() - t0
    stop.set()
    t.join()
    assert [r["exitCode"] for r in results] == [0, 0]
    assert elapsed < 5.5, f"calls did not run in parallel ({elapsed:.2f}s)"
    assert len(ticks) > 40, "the GIL was held during the C call"


def test_many_threads_share_one_client(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    out: List[str] = []
    def work(i: int) -> None:
        out.append(client.exec(sid, ["echo", str(i)])["stdout"])
    ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(out) == sorted(f"{i}\n" for i in range(8))


def test_async_client(backend_name: str, sid: str, request: pytest.FixtureRequest) -> None:
    async def main() -> None:
        if backend_name == "local":
            ac = AsyncNoxRunnerClient(local_test=True)
        else:
            ac = AsyncNoxRunnerClient(request.getfixturevalue("server_url"))
        async with ac:
            assert await ac.health_check()
            await ac.create_sandbox(sid)
            r1, r2 = await asyncio.gather(ac.exec(sid, ["sleep", "1"]),
                                          ac.exec_shell(sid, "echo async"))
            assert r1["exitCode"] == 0 and r2["stdout"] == "async\n"
            assert await ac.upload_files(sid, {"f": "1"})
            assert await ac.download_files(sid)
            chunks = []
            async for ev in ac.stream(sid, ["sh", "-c", "echo a; echo b"]):
                chunks.append(ev)
            assert isinstance(chunks[-1], ExecResult)
            async with ac.sandbox(sid + "-2") as sb:
                assert (await sb.exec(["echo", "x"]))["stdout"] == "x\n"
            assert await ac.delete_sandbox(sid)
            with pytest.raises(ValueError):
                await ac.exec_shell(sid, "x", shell="zsh")
    asyncio.run(main())


def test_async_calls_do_not_block_the_loop(backend_name: str, sid: str,
                                           request: pytest.FixtureRequest) -> None:
    async def main() -> int:
        if backend_name == "local":
            ac = AsyncNoxRunnerClient(local_test=True)
        else:
            ac = AsyncNoxRunnerClient(request.getfixturevalue("server_url"))
        async with ac:
            await ac.create_sandbox(sid)
            n = 0
            task = asyncio.ensure_future(ac.exec(sid, ["sleep", "1"]))
            while not task.done():
                n += 1
                await asyncio.sleep(0.01)
            await task
            await ac.delete_sandbox(sid)
            return n
    assert asyncio.run(main()) > 30


def test_close_then_use(client: NoxRunnerClient) -> None:
    client.close()
    with pytest.raises(NoxRunnerError):
        client.create_sandbox("x")


def test_close_waits_for_calls_in_flight(backend_name: str, client: NoxRunnerClient, sid: str,
                                         request: pytest.FixtureRequest) -> None:
    """close() from another thread does not free the C client under a
    running exec: it returns after the call, which completes normally."""
    client.create_sandbox(sid)
    if backend_name == "local":
        other = NoxRunnerClient(local_test=True)
    else:
        other = NoxRunnerClient(request.getfixturevalue("server_url"))
    other.exec(sid, ["true"])
    results: List[Any] = []
    t = threading.Thread(target=lambda: results.append(other.exec(
        sid, ["sh", "-c", "touch /workspace/started; sleep 5"])))
    started = time.monotonic()
    t.start()
    # Close once the exec is running (its mark is there), not after a
    # guessed sleep a loaded host can outlast.
    deadline = time.monotonic() + 30
    while client.exec(sid, ["test", "-e", "/workspace/started"])["exitCode"] != 0:
        assert time.monotonic() < deadline, "the exec never started"
        time.sleep(0.02)
    t0 = time.monotonic()
    left = 5 - (t0 - started)
    other.close()
    waited = time.monotonic() - t0
    t.join()
    assert [r["exitCode"] for r in results] == [0]
    # The exec had about `left` seconds to go; close() waited for it (the
    # margin is for a loaded host, where the mark is seen late).
    assert left > 1.5 and waited > 1.0, \
        f"close() returned after {waited:.2f}s, with {left:.2f}s of the exec to go"
    with pytest.raises(NoxRunnerError, match="closed"):
        other.exec(sid, ["true"])
    other.close()  # idempotent


def test_unknown_sandbox_http_semantics(backend_name: str, client: NoxRunnerClient,
                                        sid: str) -> None:
    """2.0.0's HTTP backend raised NoxRunnerHTTPError 404 for an unknown
    sandbox; its local backend created one (touch/exec/upload) or
    answered False (delete) / ValueError (download)."""
    if backend_name == "http":
        for call in (lambda: client.touch(sid), lambda: client.exec(sid, ["true"]),
                     lambda: client.delete_sandbox(sid), lambda: client.download_files(sid),
                     lambda: client.upload_files(sid, {"a": "b"})):
            with pytest.raises(NoxRunnerHTTPError) as ei:
                call()
            assert ei.value.status_code == 404
            assert isinstance(ei.value, SandboxNotFoundError)
    else:
        assert client.delete_sandbox(sid) is False
        with pytest.raises(ValueError, match="does not exist"):
            client.download_files(sid)
        assert client.exec(sid, ["echo", "auto"])["stdout"] == "auto\n"  # auto-created
        assert client.delete_sandbox(sid) is True
        assert client.touch(sid) is True
        # A command that cannot run is a result, not an exception (2.0.0).
        r = client.exec(sid, [])
        assert r["exitCode"] == 1 and r["stderr"]
        assert client.delete_sandbox(sid) is True


def test_wait_for_pod_ready(client: NoxRunnerClient, sid: str) -> None:
    client.create_sandbox(sid)
    assert client.wait_for_pod_ready(sid, timeout=20) is True


def test_wait_for_unknown_pod_times_out_on_http(server_url: str, sid: str) -> None:
    c = NoxRunnerClient(server_url)
    t0 = time.monotonic()
    assert c.wait_for_pod_ready(sid, timeout=2, interval=1) is False
    assert time.monotonic() - t0 < 8


def test_local_sandboxes_survive_the_process(sid: str, tmp_path: Path) -> None:
    """2.0.0 forgot local sandboxes when the process ended; here a sandbox
    made by one process is used and deleted by others."""
    base = str(tmp_path / "home")
    code = ("import sys, noxrunner;"
            "c = noxrunner.NoxRunnerClient(local_test=True, base_dir=sys.argv[1]);"
            "op = sys.argv[2];"
            "print(c.create_sandbox(sys.argv[3])['podName'] if op == 'create' else "
            "c.exec(sys.argv[3], ['cat', 'state'])['stdout'] if op == 'read' else "
            "c.delete_sandbox(sys.argv[3]))")
    def run(op: str) -> str:
        return subprocess.run([sys.executable, "-c", code, base, op, sid], check=True,
                              capture_output=True, text=True, timeout=60).stdout.strip()
    run("create")
    c = NoxRunnerClient(local_test=True, base_dir=base)
    c.upload_files(sid, {"state": "kept"})
    assert run("read") == "kept"
    assert run("delete") == "True"
    assert c.delete_sandbox(sid) is False
    c.close()


def test_authentication(sid: str, server_factory: Any) -> None:
    srv = server_factory(token="s3cret-token")
    try:
        bad = NoxRunnerClient(srv.url, api_key="wrong")
        assert bad.health_check() is True  # /healthz stays open
        with pytest.raises(noxrunner.AuthenticationError) as ei:
            bad.create_sandbox(sid)
        assert ei.value.status_code == 401 and ei.value.code == "NOX_EAUTH"
        assert isinstance(ei.value, NoxRunnerHTTPError)
        good = NoxRunnerClient(srv.url, api_key="s3cret-token")
        good.create_sandbox(sid)
        assert good.exec(sid, ["echo", "in"])["stdout"] == "in\n"
        good.delete_sandbox(sid)
    finally:
        srv.stop()


def test_cancelling_an_async_stream_task_kills_the_command(backend_name: str, sid: str,
                                                            request: pytest.FixtureRequest) -> None:
    async def main() -> str:
        if backend_name == "local":
            ac = AsyncNoxRunnerClient(local_test=True)
        else:
            ac = AsyncNoxRunnerClient(request.getfixturevalue("server_url"))
        async with ac:
            await ac.create_sandbox(sid)

            async def consume() -> None:
                async for _ev in ac.stream(sid, ["sh", "-c", "echo $$ > pid; echo go; sleep 30"]):
                    pass
            task = asyncio.ensure_future(consume())
            await asyncio.sleep(1.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(1.0)
            r = await ac.exec_shell(sid, "kill -0 $(cat pid) 2>/dev/null && echo alive || echo gone")
            await ac.delete_sandbox(sid)
            return str(r["stdout"])
    t0 = time.monotonic()
    assert asyncio.run(main()) == "gone\n"
    assert time.monotonic() - t0 < 20


def test_isolation_warning_points_at_the_callers_line() -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = NoxRunnerClient(local_test=True)
    try:
        if c.isolation == "namespaces":
            assert not [w for w in caught if w.category.__name__ == "IsolationWarning"]
        else:
            (w,) = [w for w in caught if w.category.__name__ == "IsolationWarning"]
            assert w.filename == __file__
            assert "WITHOUT namespace isolation" in str(w.message)
    finally:
        c.close()


def test_asking_for_no_isolation_is_not_warned_about(tmp_path: "os.PathLike[str]") -> None:
    import warnings

    from noxrunner.backend.local import LocalBackend

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = LocalBackend(base_dir=tmp_path, isolation="none")
    assert b.isolation == "none"
    assert not [w for w in caught if w.category.__name__ == "IsolationWarning"]
