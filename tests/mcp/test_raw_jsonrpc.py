"""Raw JSON-RPC against noxrunner-mcp: malformed lines, wrong types, huge
ids, batches, unknown methods and version mismatches each get the answer the
specifications name, and the server lives on after every one."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from typing import Any, Iterator

import pytest

from conftest import MCP_BIN, server_env

V26 = "2026-07-28"
META26 = {"io.modelcontextprotocol/protocolVersion": V26,
          "io.modelcontextprotocol/clientCapabilities": {}}


class Raw:
    def __init__(self, home: str, *extra: str) -> None:
        self.p = subprocess.Popen([MCP_BIN, "--local", *extra], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=server_env(home))
        self.buf = b""

    def send(self, line: str | bytes) -> None:
        data = line if isinstance(line, bytes) else line.encode()
        assert self.p.stdin is not None
        self.p.stdin.write(data + b"\n")
        self.p.stdin.flush()

    def recv(self, timeout: float = 20.0) -> dict[str, Any]:
        assert self.p.stdout is not None
        fd = self.p.stdout.fileno()
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            assert left > 0, "no answer in time"
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 1 << 20)
                assert chunk, "the server closed stdout"
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        msg = json.loads(line)
        assert msg["jsonrpc"] == "2.0"
        return msg

    def call(self, msg: dict[str, Any] | str | bytes) -> dict[str, Any]:
        self.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))
        return self.recv()

    def nothing(self, wait: float = 0.3) -> None:
        """No answer arrives: checked by a ping that must come back first."""
        time.sleep(wait)
        assert self.call({"jsonrpc": "2.0", "id": "probe", "method": "ping"})["id"] == "probe"

    def close(self) -> int:
        assert self.p.stdin is not None
        self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        for f in (self.p.stdout, self.p.stderr):
            if f:
                f.close()
        return rc


@pytest.fixture
def raw(home: str) -> Iterator[Raw]:
    r = Raw(home)
    yield r
    assert r.close() == 0


def err(msg: dict[str, Any], code: int, id_: Any = None) -> str:
    assert "result" not in msg, msg
    assert msg["error"]["code"] == code, msg
    assert msg["id"] == id_, msg
    return str(msg["error"]["message"])


def req(id_: Any, method: str, params: Any = None) -> dict[str, Any]:
    m: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return m


def test_malformed_lines(raw: Raw) -> None:
    for bad in ["{", "not json", '{"jsonrpc":"2.0","id":1,"method":"ping"', "\x00\x01",
                b"\xff\xfe{}"]:
        err(raw.call(bad), -32700)
    raw.send("")  # a blank line is no message
    raw.send("   \t")
    raw.nothing()


def test_invalid_requests(raw: Raw) -> None:
    err(raw.call("[]"), -32600)
    assert "batch" in err(raw.call(json.dumps([req(1, "ping"), req(2, "ping")])), -32600)
    for bad in ["42", '"ping"', "null", "true"]:
        err(raw.call(bad), -32600)
    err(raw.call({"id": 1, "method": "ping"}), -32600, 1)  # no jsonrpc
    err(raw.call({"jsonrpc": "1.0", "id": 2, "method": "ping"}), -32600, 2)
    err(raw.call({"jsonrpc": "2.0", "id": 3}), -32600, 3)  # no method
    err(raw.call({"jsonrpc": "2.0", "id": 4, "method": 7}), -32600, 4)
    for bad_id in [None, True, {"a": 1}, [1], 1.5]:
        err(raw.call({"jsonrpc": "2.0", "id": bad_id, "method": "ping"}), -32600)
    raw.nothing()


def test_ids_come_back_unchanged(raw: Raw) -> None:
    for good in [0, -1, 2**53, -(2**53), "x" * 10000, "", "ünï"]:
        assert raw.call(req(good, "ping")) == {"jsonrpc": "2.0", "id": good, "result": {}}
    for huge in ["1" + "0" * 30, "1e400", str(2**53 + 2), "-1e300"]:
        err(raw.call('{"jsonrpc":"2.0","id":%s,"method":"ping"}' % huge), -32600)


def test_methods_and_params(raw: Raw) -> None:
    assert "nope" in err(raw.call(req(1, "nope")), -32601, 1)
    err(raw.call(req(2, "resources/list")), -32601, 2)
    err(raw.call(req(3, "tools/list", [1, 2])), -32602, 3)
    err(raw.call(req(4, "tools/list", "x")), -32602, 4)
    err(raw.call(req(5, "tools/call", {"arguments": {}})), -32602, 5)
    err(raw.call(req(6, "tools/call", {"name": 5})), -32602, 6)
    err(raw.call(req(7, "tools/call", {"name": "exec", "arguments": [1]})), -32602, 7)
    assert "Unknown tool" in err(raw.call(req(8, "tools/call", {"name": "rm_rf"})), -32602, 8)
    err(raw.call(req(9, "initialize", {"capabilities": {}})), -32602, 9)
    err(raw.call(req(10, "tools/list", {"_meta": 5})), -32602, 10)
    # notifications never get an answer, known or not, well-formed or not
    raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    raw.send(json.dumps({"jsonrpc": "2.0", "method": "no/such/notification", "params": 5}))
    raw.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled",
                         "params": {"requestId": {"x": 1}}}))
    raw.send(json.dumps({"jsonrpc": "2.0", "id": 99, "result": {}}))  # a stray response
    raw.nothing()
    # a tool's bad arguments are a tool result (isError), not a protocol error
    r = raw.call(req(11, "tools/call", {"name": "exec", "arguments": {"session_id": []}}))
    assert r["result"]["isError"] is True
    assert r["result"]["structuredContent"]["error"]["code"] == "NOX_EINVAL"


def test_version_negotiation(raw: Raw) -> None:
    init = {"capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    r = raw.call(req(1, "initialize", {**init, "protocolVersion": "2025-11-25"}))
    assert r["result"]["protocolVersion"] == "2025-11-25"
    assert r["result"]["capabilities"]["tools"] == {"listChanged": False}
    assert r["result"]["serverInfo"]["name"] == "noxrunner-mcp"
    # an unknown version: the server answers with the one it speaks (2025-11-25)
    r = raw.call(req(2, "initialize", {**init, "protocolVersion": "1999-01-01"}))
    assert r["result"]["protocolVersion"] == "2025-11-25"
    r = raw.call(req(3, "initialize", {**init, "protocolVersion": "2025-06-18"}))
    assert r["result"]["protocolVersion"] == "2025-06-18"
    # stateless: any version in _meta it does not speak is -32022, naming them
    r = raw.call(req(4, "tools/list", {"_meta": {**META26,
                 "io.modelcontextprotocol/protocolVersion": "2030-01-01"}}))
    err(r, -32022, 4)
    assert r["error"]["data"]["requested"] == "2030-01-01"
    assert V26 in r["error"]["data"]["supported"]
    err(raw.call(req(5, "server/discover", {"_meta": {
        "io.modelcontextprotocol/protocolVersion": 2026}})), -32602, 5)


def test_stateless_revision(raw: Raw) -> None:
    # no initialize at all: every request carries its version
    r = raw.call(req(1, "server/discover", {"_meta": META26}))["result"]
    assert r["resultType"] == "complete" and V26 in r["supportedVersions"]
    assert "tools" in r["capabilities"]
    r = raw.call(req(2, "tools/list", {"_meta": META26}))["result"]
    assert r["resultType"] == "complete" and len(r["tools"]) == 10
    assert r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "noxrunner-mcp"
    r = raw.call(req(3, "tools/call", {"_meta": META26, "name": "list_sandboxes"}))["result"]
    assert r["resultType"] == "complete" and r["isError"] is False
    err(raw.call(req(4, "ping", {"_meta": META26})), -32601, 4)  # removed in 2026-07-28
    # the handshake era has no server/discover
    err(raw.call(req(5, "server/discover")), -32601, 5)
    assert "resultType" not in raw.call(req(6, "tools/list"))["result"]


def test_oversized_line(home: str) -> None:
    r = Raw(home, "--max-archive-bytes", "1000")  # line limit: 1 MiB + 1333
    r.send(json.dumps(req(1, "ping", {"pad": "x" * (3 << 20)})))
    err(r.recv(), -32600)
    assert r.call(req(2, "ping"))["id"] == 2
    assert r.close() == 0


def test_sigterm_deletes_sandboxes(home: str) -> None:
    r = Raw(home)
    sid = r.call(req(1, "tools/call", {"name": "create_sandbox"}))["result"][
        "structuredContent"]["session_id"]
    r.send(json.dumps(req(2, "tools/call", {"name": "exec", "arguments": {
        "session_id": sid, "command": "sleep 600", "timeout_seconds": 900}})))
    time.sleep(0.5)
    r.p.send_signal(signal.SIGTERM)
    assert r.p.wait(timeout=30) == 0
    assert r.p.stderr is not None
    assert f"deleted sandbox {sid}" in r.p.stderr.read().decode()
    r.close()
    r2 = Raw(home)
    out = r2.call(req(1, "tools/call", {"name": "list_sandboxes"}))["result"]
    assert out["structuredContent"]["sandboxes"] == []
    assert r2.close() == 0


def test_every_schema_property_is_an_argument(raw: Raw) -> None:
    """The server takes exactly the arguments each input schema lists."""
    tools = raw.call(req(1, "tools/list"))["result"]["tools"]
    for i, t in enumerate(tools):
        props = t["inputSchema"]["properties"]
        args = {k: None for k in props}  # null: as if absent
        r = raw.call(req(100 + i, "tools/call", {"name": t["name"], "arguments": args}))
        text = json.dumps(r["result"])
        assert "takes no argument" not in text, (t["name"], text)
        r = raw.call(req(200 + i, "tools/call", {"name": t["name"],
                                                  "arguments": {**args, "zzz": 1}}))
        assert r["result"]["isError"] is True
        assert "zzz" in r["result"]["structuredContent"]["error"]["message"], r
