#!/usr/bin/env lua5.4
--- transfer_timeout: a whole download over HTTP is bounded (issue 12
-- item 5). The peer is a small python3 program on 127.0.0.1 that answers
-- a download with its headers and then one byte every 200 ms, and exits by
-- itself after 10 s. Prints "lua-transfer-timeout: N passed, N failed".

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local S = require("support")
S.use_in_tree_module()

local noxrunner = require("noxrunner")
local Client = noxrunner.NoxRunnerClient
local T = S.harness("lua-transfer-timeout")
local test, eq, ok, raises = T.test, T.eq, T.ok, T.raises

local PEER = [[
import socket, sys, time
end = time.monotonic() + 10
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
s.settimeout(0.1)
print(s.getsockname()[1], flush=True)
while time.monotonic() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(1)
    head = b""
    try:
        while not head.endswith(b"\r\n\r\n"):
            b = c.recv(1)
            if not b:
                break
            head += b
        if b"/files/download" in head:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\n"
                      b"Content-Length: 1000000\r\n\r\n")
            while time.monotonic() < end:
                c.sendall(b"x")
                time.sleep(0.2)
        else:
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n"
                      b"Connection: close\r\n\r\n{}")
    except OSError:
        pass
    c.close()
]]

local function now_ms()
  return tonumber((S.sh("date +%s%3N")))
end

--- Start the peer; returns its URL and the file holding its port.
local function start_peer()
  local dir = S.mktemp_dir("trickle")
  local script, port_file = dir .. "/peer.py", dir .. "/port"
  local f = assert(io.open(script, "w"))
  f:write(PEER)
  f:close()
  os.execute("python3 " .. S.quote(script) .. " > " .. S.quote(port_file) .. " 2>/dev/null &")
  for _ = 1, 50 do
    local p = S.read_file(port_file)
    local port = p and p:match("^(%d+)\n")
    if port then return "http://127.0.0.1:" .. port, dir end
    S.sleep(0.1)
  end
  S.rm_rf(dir)
  error("the trickle peer did not start")
end

test("transfer_timeout ends a trickled download with NOX_ETIMEOUT", function()
  local url, dir = start_peer()
  -- timeout (the idle limit) 2 s never fires: a byte comes every 200 ms.
  local c <close> = Client.new(url, { timeout = 2, transfer_timeout = 1, max_retries = 0 })
  local t0 = now_ms()
  local e = raises("NOX_ETIMEOUT", c.download_files, c, "s")
  local took = now_ms() - t0
  S.rm_rf(dir)
  ok(e.message:find("within 1000 ms (transfer_timeout_ms)", 1, true),
     "message names the deadline: " .. e.message)
  ok(took >= 900 and took < 5000, "took " .. took .. " ms, want about 1000")
end)

test("transfer_timeout is checked like the other timeouts", function()
  raises("NOX_EINVAL", Client.new, "http://127.0.0.1:9", { transfer_timeout = -1 })
  raises("NOX_EINVAL", Client.new, "http://127.0.0.1:9", { transfer_timeout = "1" })
  local core = noxrunner.core
  local rc, c = core.nox_client_new({ backend = core.NOX_BACKEND_HTTP,
                                      base_url = "http://127.0.0.1:9",
                                      transfer_timeout_ms = 1000 })
  eq(rc, 0, "raw option table takes transfer_timeout_ms")
  core.nox_client_free(c)
end)

os.exit(T.done() and 0 or 1)
