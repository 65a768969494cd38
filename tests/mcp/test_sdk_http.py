"""The official MCP Python SDK's Streamable HTTP client against noxrunnerd's
/mcp on loopback: the same tools as noxrunner-mcp, behind the bearer token."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import urllib.error
import urllib.request
from typing import Any, Iterator

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import AGENT, BUILD, TOOLS, server_env
from test_sdk_stdio import alive, every_tool, ok

TOKEN = "mcp-test-token"
NOXRUNNERD = os.environ.get("NOXRUNNERD", str(BUILD / "noxrunnerd"))


@pytest.fixture
def url(home: str, tmp_path: pathlib.Path) -> Iterator[str]:
    log = tmp_path / "noxrunnerd.log"
    with open(log, "w") as err:
        p = subprocess.Popen([NOXRUNNERD, "--port", "0", "--token", TOKEN, "--agent", AGENT,
                              "--quiet"], stdout=subprocess.PIPE, stderr=err,
                             env=server_env(home), text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert "listening on " in line, log.read_text()
    yield line.split("listening on ")[1].strip() + "/mcp"
    p.terminate()
    rc = p.wait(timeout=60)
    p.stdout.close()
    assert rc == 0, log.read_text()


def transport(url: str, token: str = TOKEN) -> Any:
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                timeout=httpx2.Timeout(30, read=300))
    return streamable_http_client(url, http_client=client)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28", "auto"])
def test_every_tool_over_http(url: str, mode: str) -> None:
    async def main() -> None:
        async with Client(transport(url), mode=mode) as c:
            assert c.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
            assert {t.name for t in (await c.list_tools()).tools} == TOOLS
            await every_tool(c)
    anyio.run(main)


def test_progress_over_sse(url: str) -> None:
    async def main() -> None:
        seen: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(message or "")

        async with Client(transport(url), mode="legacy") as c:
            sid = ok(await c.call_tool("create_sandbox", {}))["session_id"]
            r = ok(await c.call_tool("exec", {"session_id": sid, "command":
                                              "for i in 1 2 3; do echo l$i; sleep 0.2; done"},
                                     progress_callback=on_progress))
            assert r["stdout"] == "l1\nl2\nl3\n" == "".join(seen)
            assert len(seen) >= 2
    anyio.run(main)


def test_cancel_over_http_kills_the_command(url: str) -> None:
    async def main() -> None:
        async with Client(transport(url), mode="legacy") as c:
            sid = ok(await c.call_tool("create_sandbox", {}))["session_id"]
            done = anyio.Event()
            scopes: list[anyio.CancelScope] = []

            async def long_call() -> None:
                with anyio.CancelScope() as scope:
                    scopes.append(scope)
                    await c.call_tool("exec", {"session_id": sid, "timeout_seconds": 600,
                                               "command": "echo $$ > /workspace/pid; exec sleep 600"})
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_call)
                for _ in range(100):
                    if await alive(c, sid) == "alive":
                        break
                    await anyio.sleep(0.1)
                assert await alive(c, sid) == "alive"
                scopes[0].cancel()
                await done.wait()
                state = "alive"
                for _ in range(100):
                    state = await alive(c, sid)
                    if state == "gone":
                        break
                    await anyio.sleep(0.1)
                assert state == "gone"
    anyio.run(main)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_http_guards(url: str) -> None:
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert post(url, ping, {})[0] == 401
    assert post(url, ping, {"Authorization": "Bearer wrong"})[0] == 401
    assert post(url, ping, auth) == (200, '{"jsonrpc":"2.0","id":1,"result":{}}')
    assert post(url, ping, {**auth, "Origin": "https://evil.example"})[0] == 403
    assert post(url, ping, {**auth, "Origin": "http://localhost:3000"})[0] == 200
    status, body = post(url, ping, {**auth, "MCP-Protocol-Version": "1999-01-01"})
    assert status == 400 and json.loads(body)["error"]["code"] == -32022
    tl = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28"}}}).encode()
    status, body = post(url, tl, {**auth, "MCP-Protocol-Version": "2025-11-25"})
    assert status == 400 and json.loads(body)["error"]["code"] == -32020
    assert post(url, b"{nope", auth)[0] == 400
    assert post(url, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
                .encode(), auth) == (202, "")
    req = urllib.request.Request(url, headers=auth)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == 405


def test_stdio_server_on_the_http_backend(url: str, home: str) -> None:
    """noxrunner-mcp --url/--token: the stdio server driving a noxrunnerd."""
    from mcp import StdioServerParameters

    from conftest import MCP_BIN
    from test_sdk_stdio import fail

    base = url[: -len("/mcp")]

    def params(token: str) -> StdioServerParameters:
        return StdioServerParameters(command=MCP_BIN, args=["--url", base, "--token", token],
                                     env=server_env(home))

    async def main() -> None:
        async with Client(params(TOKEN), mode="legacy") as c:
            sid = ok(await c.call_tool("create_sandbox", {}))["session_id"]
            e = ok(await c.call_tool("exec", {"session_id": sid, "command": "echo over-http"}))
            assert e["stdout"] == "over-http\n"
            listed = ok(await c.call_tool("list_sandboxes", {}))["sandboxes"]
            assert [s["session_id"] for s in listed] == [sid]
        async with Client(params("wrong"), mode="legacy") as c:
            fail(await c.call_tool("create_sandbox", {}), "NOX_EAUTH")
        async with Client(params(TOKEN), mode="legacy") as c:
            # the first server deleted its sandbox when it exited
            assert ok(await c.call_tool("list_sandboxes", {}))["sandboxes"] == []
    anyio.run(main)
