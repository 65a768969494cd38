"""The official MCP Python SDK drives noxrunner-mcp over stdio.

Both protocol eras: mode="legacy" (the 2025-11-25 initialize handshake) and
mode="2026-07-28" (stateless, version in each request's _meta), plus
mode="auto", where the SDK probes server/discover first.
"""
from __future__ import annotations

import base64
import io
import json
import tarfile
import time
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client, StdioServerParameters

from conftest import MCP_BIN, TOOLS, server_env

MODES = ["legacy", "2026-07-28", "auto"]


def params(home: str, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=MCP_BIN, args=["--local", *extra],
                                 env=server_env(home))


def ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    # the text content carries the same answer for text-only hosts
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def fail(result: Any, code: str) -> str:
    assert result.is_error, result.structured_content
    err = result.structured_content["error"]
    assert err["code"] == code, err
    return err["message"]


def targz(files: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


async def every_tool(c: Client) -> None:
    sid = ok(await c.call_tool("create_sandbox", {"ttl_seconds": 120}))["session_id"]
    assert sid.startswith("mcp-")
    w = ok(await c.call_tool("write_file", {"session_id": sid, "path": "dir/a.txt",
                                             "content": "héllo\n"}))
    assert w == {"path": "/workspace/dir/a.txt", "bytes_written": 7}
    ok(await c.call_tool("write_file", {"session_id": sid, "path": "/workspace/bin.dat",
                                         "content": base64.b64encode(b"\xff\x00\x01").decode(),
                                         "encoding": "base64", "mode": 0o600}))
    r = ok(await c.call_tool("read_file", {"session_id": sid, "path": "dir/a.txt"}))
    assert (r["content"], r["encoding"], r["truncated"]) == ("héllo\n", "text", False)
    r = ok(await c.call_tool("read_file", {"session_id": sid, "path": "bin.dat"}))
    assert (r["encoding"], base64.b64decode(r["content"])) == ("base64", b"\xff\x00\x01")
    r = ok(await c.call_tool("read_file", {"session_id": sid, "path": "dir/a.txt",
                                            "max_bytes": 3}))
    assert r["truncated"] is True and r["bytes"] == 3
    ls = ok(await c.call_tool("list_files", {"session_id": sid, "depth": 2}))
    entries = {e["path"]: e for e in ls["entries"]}
    assert entries["dir"]["type"] == "dir"
    assert entries["dir/a.txt"]["size"] == 7 and entries["bin.dat"]["mode"] == "600"
    e = ok(await c.call_tool("exec", {"session_id": sid, "command": "cat dir/a.txt; echo oops >&2; exit 3"}))
    assert (e["exit_code"], e["stdout"], e["stderr"], e["timed_out"]) == (3, "héllo\n", "oops\n", False)
    e = ok(await c.call_tool("exec", {"session_id": sid, "argv": ["sh", "-c", 'echo "$X:$(cat)"; pwd'],
                                       "env": {"X": "1"}, "stdin": "in", "workdir": "/workspace/dir"}))
    assert e["stdout"] == "1:in\n/workspace/dir\n"
    e = ok(await c.call_tool("exec", {"session_id": sid, "command": "head -c 5000 /dev/zero | tr '\\0' x",
                                       "max_output_bytes": 100}))
    assert e["stdout"] == "x" * 100 and e["stdout_truncated"] is True
    e = ok(await c.call_tool("exec", {"session_id": sid, "command": "sleep 5", "timeout_seconds": 1}))
    assert e["timed_out"] is True and e["exit_code"] == 124
    d = ok(await c.call_tool("download_archive", {"session_id": sid, "path": "/workspace/dir"}))
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(d["archive_base64"]))) as tar:
        names = tar.getnames()
        assert any(n.endswith("a.txt") for n in names), names
    ok(await c.call_tool("upload_archive", {"session_id": sid, "dest": "up",
                                             "archive_base64": targz({"x/y.txt": b"from tar"})}))
    r = ok(await c.call_tool("read_file", {"session_id": sid, "path": "/workspace/up/x/y.txt"}))
    assert r["content"] == "from tar"
    t = ok(await c.call_tool("touch", {"session_id": sid}))
    assert t["session_id"] == sid and t["expires_at"]
    listed = ok(await c.call_tool("list_sandboxes", {}))["sandboxes"]
    assert [s["created_here"] for s in listed if s["session_id"] == sid] == [True]
    assert ok(await c.call_tool("delete_sandbox", {"session_id": sid}))["deleted"] is True
    fail(await c.call_tool("exec", {"session_id": sid, "command": "true"}), "NOX_ENOTFOUND")


@pytest.mark.parametrize("mode", MODES)
def test_every_tool(home: str, mode: str) -> None:
    async def main() -> None:
        async with Client(params(home), mode=mode) as c:
            want = "2025-11-25" if mode == "legacy" else "2026-07-28"
            assert c.protocol_version == want
            tools = (await c.list_tools()).tools
            assert {t.name for t in tools} == TOOLS
            for t in tools:
                jsonschema.Draft202012Validator.check_schema(t.input_schema)
                assert t.input_schema["type"] == "object"
                assert len(t.description or "") > 40, t.name
            await every_tool(c)
    anyio.run(main)


def test_errors_are_tool_results(home: str) -> None:
    async def main() -> None:
        async with Client(params(home), mode="legacy") as c:
            fail(await c.call_tool("exec", {"session_id": "nope", "command": "true"}), "NOX_ENOTFOUND")
            fail(await c.call_tool("read_file", {"session_id": "nope", "path": "x"}), "NOX_ENOTFOUND")
            fail(await c.call_tool("delete_sandbox", {"session_id": "nope"}), "NOX_ENOTFOUND")
            msg = fail(await c.call_tool("exec", {"session_id": 5, "command": "true"}), "NOX_EINVAL")
            assert "session_id" in msg
            msg = fail(await c.call_tool("exec", {"session_id": "s"}), "NOX_EINVAL")
            assert "command" in msg and "argv" in msg
            msg = fail(await c.call_tool("exec", {"session_id": "s", "command": "true",
                                                   "timeout_seconds": "ten"}), "NOX_EINVAL")
            assert "timeout_seconds" in msg
            msg = fail(await c.call_tool("create_sandbox", {"bogus": 1}), "NOX_EINVAL")
            assert "bogus" in msg
            fail(await c.call_tool("create_sandbox", {"memory_limit": "lots"}), "NOX_EINVAL")
            sid = ok(await c.call_tool("create_sandbox", {}))["session_id"]
            msg = fail(await c.call_tool("read_file", {"session_id": sid, "path": "missing"}),
                       "NOX_ENOTFOUND")
            assert "missing" in msg
            fail(await c.call_tool("write_file", {"session_id": sid, "path": "a", "content": "!!",
                                                   "encoding": "base64"}), "NOX_EINVAL")
            with pytest.raises(Exception) as info:
                await c.call_tool("no_such_tool", {})
            assert "Unknown tool" in str(info.value)
    anyio.run(main)


def test_progress_streams_while_running(home: str) -> None:
    async def main() -> None:
        seen: list[tuple[float, float, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append((time.monotonic(), progress, message))

        async with Client(params(home), mode="legacy") as c:
            sid = ok(await c.call_tool("create_sandbox", {}))["session_id"]
            r = ok(await c.call_tool("exec", {"session_id": sid, "command":
                                              "for i in 1 2 3 4; do echo line$i; sleep 0.4; done"},
                                     progress_callback=on_progress))
            done = time.monotonic()
            assert r["stdout"] == "line1\nline2\nline3\nline4\n"
            assert "".join(m or "" for _, _, m in seen) == r["stdout"]
            progress = [p for _, p, _ in seen]
            assert progress == sorted(progress) and len(set(progress)) == len(progress)
            assert done - seen[0][0] > 0.8, "the first line came only at the end"
    anyio.run(main)


async def alive(c: Client, sid: str) -> str:
    r = ok(await c.call_tool("exec", {"session_id": sid, "command":
                                      "p=$(cat /workspace/pid 2>/dev/null) || { echo nopid; exit; }; "
                                      "kill -0 $p 2>/dev/null && echo alive || echo gone"}))
    return r["stdout"].strip()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_cancel_kills_the_command(home: str, mode: str) -> None:
    async def main() -> None:
        async with Client(params(home), mode=mode) as c:
            sid = ok(await c.call_tool("create_sandbox", {}))["session_id"]
            cancelled = anyio.Event()

            async def long_call() -> None:
                with anyio.CancelScope() as scope:
                    holder.append(scope)
                    await c.call_tool("exec", {"session_id": sid, "timeout_seconds": 600,
                                               "command": "echo $$ > /workspace/pid; exec sleep 600"})
                cancelled.set()

            holder: list[anyio.CancelScope] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(long_call)
                for _ in range(100):
                    if await alive(c, sid) == "alive":
                        break
                    await anyio.sleep(0.1)
                assert await alive(c, sid) == "alive"
                holder[0].cancel()  # the SDK sends notifications/cancelled
                await cancelled.wait()
                state = "alive"
                for _ in range(100):
                    state = await alive(c, sid)
                    if state == "gone":
                        break
                    await anyio.sleep(0.1)
                assert state == "gone", "the cancelled command still runs"
            # the server lives on
            e = ok(await c.call_tool("exec", {"session_id": sid, "command": "echo still"}))
            assert e["stdout"] == "still\n"
    anyio.run(main)


def test_exit_deletes_its_sandboxes_unless_kept(home: str) -> None:
    async def run(*extra: str) -> list[dict[str, Any]]:
        async with Client(params(home, *extra), mode="legacy") as c:
            ok(await c.call_tool("create_sandbox", {"session_id": "keepme" if extra else "dropme"}))
        async with Client(params(home), mode="legacy") as c:
            return ok(await c.call_tool("list_sandboxes", {}))["sandboxes"]

    async def drop_kept() -> None:
        async with Client(params(home), mode="legacy") as c:
            await c.call_tool("delete_sandbox", {"session_id": "keepme"})

    assert [s["session_id"] for s in anyio.run(run)] == []
    try:
        kept = anyio.run(run, "--keep-sandboxes")
        assert [(s["session_id"], s["created_here"]) for s in kept] == [("keepme", False)]
    finally:
        anyio.run(drop_kept)  # kept on purpose above: not left for after the test


def test_max_sandboxes(home: str) -> None:
    async def main() -> None:
        async with Client(params(home, "--max-sandboxes", "2", "--ttl", "60"), mode="legacy") as c:
            a = ok(await c.call_tool("create_sandbox", {}))
            assert a["ttl_seconds"] == 60
            ok(await c.call_tool("create_sandbox", {}))
            msg = fail(await c.call_tool("create_sandbox", {}), "NOX_ETOOBIG")
            assert "--max-sandboxes" in msg
            ok(await c.call_tool("delete_sandbox", {"session_id": a["session_id"]}))
            ok(await c.call_tool("create_sandbox", {}))
    anyio.run(main)
