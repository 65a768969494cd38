#!/usr/bin/env lua5.4
--- Tests of the Lua binding itself, on both backends: the local one, and
-- HTTP against a noxrunnerd started here. Prints "lua-binding: N passed,
-- N failed" and exits 1 on any failure.
-- Environment: NOXRUNNERD, NOXRUNNER_AGENT (as for the scenario runner).

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = here .. "/?.lua;" .. package.path
local S = require("support")
S.use_in_tree_module()

local noxrunner = require("noxrunner")
local Client = noxrunner.NoxRunnerClient
local AGENT = os.getenv("NOXRUNNER_AGENT")
local T = S.harness("lua-binding")
local test, eq, ok, raises = T.test, T.eq, T.ok, T.raises

-- ---- without a backend ------------------------------------------------------

test("raw module returns rc, outputs, err and has the header's constants", function()
  local core = noxrunner.core
  eq(core.NOX_ENOTFOUND, -3, "NOX_ENOTFOUND")
  eq(math.type(core.NOX_EINVAL), "integer", "constant type")
  eq(core.nox_code_name(core.NOX_ECANCELED), "NOX_ECANCELED", "code name")
  eq(core.nox_abi_version(), core.NOX_ABI_VERSION, "ABI")
  local rc, c, err = core.nox_client_new({ backend = core.NOX_BACKEND_HTTP, base_url = "not a url" })
  ok(rc < 0, "bad URL refused")
  eq(c, nil, "no client on failure")
  eq(err.code, core.nox_code_name(rc), "error table code")
  ok(#err.message > 0, "error message")
end)

test("raw option tables refuse unknown fields and wrong types", function()
  local core = noxrunner.core
  ok(not pcall(core.nox_client_new, { bogus = 1 }), "unknown field")
  ok(not pcall(core.nox_client_new, { base_url = 42 }), "number for a string")
  ok(not pcall(core.nox_client_new, { max_retries = 1.5 }), "fraction for an integer")
end)

test("NoxRunnerClient.new validates its options with NOX_EINVAL", function()
  raises("NOX_EINVAL", Client.new, { local_tset = true })
  raises("NOX_EINVAL", Client.new, {})  -- neither base_url nor local_test
  raises("NOX_EINVAL", Client.new, { local_test = true, isolation = "chroot" })
  local r, msg, code = noxrunner.try_new({ local_tset = true })
  eq(r, nil, "try_new result")
  eq(code, "NOX_EINVAL", "try_new code")
  ok(msg:find("local_tset", 1, true), "message names the option")
end)

test("NoxError prints its code and message and is recognised", function()
  local e = raises("NOX_EINVAL", Client.new, {})
  ok(noxrunner.is_error(e), "is_error")
  ok(tostring(e):match("^NOX_EINVAL: "), "tostring: " .. tostring(e))
  eq(e.http_status, 0, "http_status without HTTP")
  ok(not noxrunner.is_error("x"), "a string is not a NoxError")
end)

test("an unreachable server is unhealthy with NOX_ECONNECT", function()
  local c <close> = Client.new { base_url = "http://127.0.0.1:1", timeout = 2, max_retries = 0 }
  eq(c:backend(), "http", "backend")
  local healthy, e = c:health_check()
  eq(healthy, false, "healthy")
  eq(e.code, "NOX_ECONNECT", "code")
  local r, _, code = c:try_exec("x", { "true" })
  eq(r, nil, "try_exec")
  eq(code, "NOX_ECONNECT", "try_exec code")
end)

-- ---- on each backend ------------------------------------------------------------

local function suite(backend, make)
  local n = 0
  local function sid()
    n = n + 1
    return string.format("lua-test-%s-%d-%d", backend, S.getpid(), n)
  end
  local c = make()
  local function t(name, fn) test(backend .. ": " .. name, fn) end

  t("health_check and backend", function()
    eq(c:health_check(), true, "healthy")
    eq(c:backend(), backend, "backend")
    ok(({ none = 1, namespaces = 1, auto = 1 })[c:isolation()], "isolation name")
  end)

  t("info decodes the backend description", function()
    local ok_, cjson = pcall(require, "cjson")
    local text = c:info_json()
    ok(text:match("^%s*{"), "JSON object")
    if ok_ then
      local info = c:info()
      ok(type(info) == "table" and info.name, "info.name")
      ok(cjson.decode(text).name == info.name, "same as info_json")
    end
  end)

  local id = sid()
  t("create_sandbox returns podName and expiresAt, and is idempotent", function()
    local info = c:create_sandbox(id, 120)
    ok(type(info.podName) == "string" and #info.podName > 0, "podName")
    ok(info.expiresAt:match("^%d%d%d%d%-%d%d%-%d%dT"), "expiresAt " .. tostring(info.expiresAt))
    eq(math.type(info.expiresAtUnix), "integer", "expiresAtUnix")
    local again = c:create_sandbox(id, { ttl_seconds = 120 })
    eq(again.podName, info.podName, "same pod")
    eq(c:wait_for_pod_ready(id, 10), true, "ready")
    eq(c:touch(id), true, "touch")
  end)

  t("exec returns the Python-shaped result with Lua types", function()
    local r = c:exec(id, { "sh", "-c", "echo out; echo err >&2; exit 3" })
    eq(r.exitCode, 3, "exitCode")
    eq(math.type(r.exitCode), "integer", "exitCode is an integer")
    eq(r.stdout, "out\n", "stdout")
    eq(r.stderr, "err\n", "stderr")
    eq(math.type(r.durationMs), "integer", "durationMs")
    eq(r.timedOut, false, "timedOut")
    eq(r.stdoutTruncated, false, "stdoutTruncated")
    eq(r.stderrTruncated, false, "stderrTruncated")
    eq(r.signal, 0, "signal")
  end)

  t("a command killed by a signal reports it", function()
    local r = c:exec(id, { "sh", "-c", "kill -9 $$" })
    eq(r.signal, 9, "signal")
    eq(r.exitCode, 137, "exitCode 128+9")
  end)

  t("get_sandbox finds the session", function()
    local info, _, code = c:try_get_sandbox(id)
    if info == nil then eq(code, "NOX_EUNSUPPORTED", "only an unsupported lookup may fail") return end
    eq(info.sessionId, id, "sessionId")
    ok(#info.podName > 0, "podName")
  end)

  t("binary output and stdin come back byte for byte", function()
    local r = c:exec(id, { "printf", "\\377\\000\\001\\300" })
    eq(r.stdout, "\255\0\1\192", "stdout bytes")
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local all = table.concat(bytes):rep(4)
    r = c:exec(id, { "cat" }, { stdin = all })
    eq(#r.stdout, #all, "stdin length")
    eq(r.stdout, all, "stdin roundtrip")
  end)

  t("env as a map or as K=V strings; argv never expands, the shell does", function()
    eq(c:exec(id, { "echo", "$X" }, { env = { X = "1" } }).stdout, "$X\n", "argv literal")
    eq(c:exec_shell(id, "echo $X-$Y", { env = { X = "a", Y = "b" } }).stdout, "a-b\n", "map")
    eq(c:exec_shell(id, "echo $X", "sh", { env = { "X=kv" } }).stdout, "kv\n", "array")
    eq(c:exec_shell(id, "echo ${BASH_VERSION:+bash}", "bash").stdout, "bash\n", "bash")
  end)

  t("workdir, timeout and output cap", function()
    c:exec(id, { "mkdir", "-p", "/workspace/sub" })
    eq(c:exec(id, { "pwd" }, { workdir = "/workspace/sub" }).stdout, "/workspace/sub\n", "workdir")
    local r = c:exec(id, { "sleep", "30" }, { timeout = 1 })
    eq(r.timedOut, true, "timedOut")
    eq(r.exitCode, 124, "exitCode on timeout")
    r = c:exec(id, { "sh", "-c", "head -c 5000 /dev/zero" }, { max_output = 100 })
    eq(#r.stdout, 100, "capped stdout")
    eq(r.stdoutTruncated, true, "stdoutTruncated")
  end)

  t("bad arguments raise NOX_EINVAL before reaching the backend", function()
    raises("NOX_EINVAL", c.exec, c, id, "echo hi")
    raises("NOX_EINVAL", c.exec, c, id, { "echo", 1 })
    raises("NOX_EINVAL", c.exec, c, id, { "true" }, { timeuot = 1 })
    raises("NOX_EINVAL", c.exec, c, id, {})
    raises("NOX_EINVAL", c.exec, c, 42, { "true" })
    local e = raises("NOX_EINVAL", c.exec, id, { "true" }) -- c.exec instead of c:exec
    ok(e.message:find("c:method", 1, true), "hint for a dot call: " .. e.message)
  end)

  t("unknown sessions raise NOX_ENOTFOUND with a message naming the session", function()
    local ghost = sid()
    local e = raises("NOX_ENOTFOUND", c.exec, c, ghost, { "true" })
    ok(e.message:find(ghost, 1, true), "message names the session: " .. e.message)
    if backend == "http" then eq(e.http_status, 404, "http_status") end
    raises("NOX_ENOTFOUND", c.touch, c, ghost)
    raises("NOX_ENOTFOUND", c.delete_sandbox, c, ghost)
    local r, msg, code = c:try_exec(ghost, { "true" })
    eq(r, nil, "try_exec result")
    eq(code, "NOX_ENOTFOUND", "try_exec code")
    ok(msg:find(ghost, 1, true), "try_exec message")
  end)

  t("upload_files with modes, download_files as tar.gz, download_workspace", function()
    c:upload_files(id, {
      ["a.txt"] = "alpha\n",
      ["bin/run.sh"] = { content = "#!/bin/sh\necho ran\n", mode = "755" },
      ["secret"] = { content = "\0\255", mode = 384 },
    }, "/workspace/up")
    eq(c:exec(id, { "sh", "/workspace/up/bin/run.sh" }).stdout, "ran\n", "uploaded script")
    local targz = c:download_files(id, "/workspace/up")
    eq(targz:sub(1, 2), "\31\139", "gzip magic")
    local _, by = S.untargz(targz)
    eq(by["a.txt"].content, "alpha\n", "a.txt")
    eq(by["secret"].content, "\0\255", "binary file")
    eq(string.format("%o", by["secret"].mode), "600", "mode 600")
    eq(string.format("%o", by["bin/run.sh"].mode), "755", "mode 755")
    eq(by["bin"].type, "dir", "bin is a directory")
    local dir = S.mktemp_dir("dl")
    eq(c:download_workspace(id, dir .. "/out", "/workspace/up"), true, "download_workspace")
    eq(S.read_file(dir .. "/out/a.txt"), "alpha\n", "extracted file")
    S.rm_rf(dir)
    raises("NOX_EINVAL", c.upload_files, c, id, { ["../x"] = "no" })
    raises("NOX_EINVAL", c.upload_files, c, id, { ["x"] = 5 })
    c:upload_targz(id, targz, "/workspace/again")
    eq(c:exec(id, { "cat", "/workspace/again/a.txt" }).stdout, "alpha\n", "upload_targz")
  end)

  t("upload_dir sends a local tree", function()
    local dir = S.mktemp_dir("up")
    os.execute("mkdir -p " .. dir .. "/tree/d && printf tree > " .. dir .. "/tree/d/f.txt")
    eq(c:upload_dir(id, dir .. "/tree", "/workspace/fromdir"), true, "upload_dir")
    eq(c:exec(id, { "cat", "/workspace/fromdir/d/f.txt" }).stdout, "tree", "uploaded content")
    S.rm_rf(dir)
  end)

  t("stream yields chunks then exit, and closes itself after a for loop", function()
    local out, err, exit = {}, {}, nil
    for kind, data in c:stream(id, { "sh", "-c", "echo one; echo two >&2; sleep 0.2; echo three; exit 5" }) do
      if kind == "stdout" then out[#out + 1] = data
      elseif kind == "stderr" then err[#err + 1] = data
      else exit = data end
    end
    eq(table.concat(out), "one\nthree\n", "stdout chunks")
    eq(table.concat(err), "two\n", "stderr chunks")
    eq(exit.exitCode, 5, "exit code")
    local st, _, _, closing = c:stream(id, { "echo", "x" })
    eq(closing, st, "fourth value closes the stream in a for loop")
    local r = st:wait()
    eq(r.stdout, "x\n", "wait() collects stdout")
    eq(st:result().exitCode, 0, "result()")
    st:close()
  end)

  t("stream cancel ends in NOX_ECANCELED and kills the command", function()
    local st <close> = c:stream(id, { "sh", "-c", "echo first; exec sleep 30" })
    local t0 = os.time()
    local kind, data = st:next()
    while kind == "none" do kind, data = st:next() end
    eq(kind, "stdout", "first event")
    eq(data, "first\n", "first chunk")
    st:cancel()
    st:cancel() -- idempotent
    raises("NOX_ECANCELED", st.next, st)
    ok(os.time() - t0 < 10, "cancel did not wait for the command")
    eq(c:exec(id, { "echo", "after" }).stdout, "after\n", "session still works")
  end)

  t("stream binary chunks and stdin", function()
    local st = c:stream(id, { "cat" }, { stdin = "\0\1\2\255" })
    local r = st:wait()
    eq(r.stdout, "\0\1\2\255", "binary chunks")
    st:close()
  end)

  t("stream close twice, use after close, and __close", function()
    local st = c:stream(id, { "sleep", "30" })
    st:close()
    st:close()
    local e = raises("NOX_EINVAL", st.next, st)
    ok(e.message:find("after close", 1, true), "clear message: " .. e.message)
    st:cancel() -- a no-op once closed
    local kept
    do
      local s2 <close> = c:stream(id, { "sleep", "30" })
      kept = s2
    end
    raises("NOX_EINVAL", kept.next, kept)
  end)

  t("a stream dropped without close is killed by __gc", function()
    local st = c:stream(id, { "sh", "-c", "echo $$; exec sleep 30" })
    local kind, data = st:next()
    while kind == "none" do kind, data = st:next() end
    local pid = tonumber(data)
    ok(pid, "pid from the first chunk: " .. tostring(data))
    eq(c:exec(id, { "sh", "-c", "kill -0 " .. pid .. " && echo alive" }).stdout, "alive\n", "running")
    st = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    local gone
    for _ = 1, 50 do
      gone = c:exec(id, { "sh", "-c", "kill -0 " .. pid .. " 2>/dev/null || echo gone" }).stdout
      if gone == "gone\n" then break end
      S.sleep(0.1)
    end
    eq(gone, "gone\n", "command killed after collection")
  end)

  t("list_sandboxes includes the session", function()
    local list, _, code = c:try_list_sandboxes()
    if list == nil then
      eq(code, "NOX_EUNSUPPORTED", "only an unsupported listing may fail")
      return
    end
    local found = false
    for _, info in ipairs(list) do if info.sessionId == id then found = true end end
    ok(found, "session listed")
  end)

  t("streams outlive their client", function()
    local c2 = make()
    local st <close> = c2:stream(id, { "sh", "-c", "sleep 0.3; echo late" })
    c2:close()
    eq(st:wait().stdout, "late\n", "stream after client close")
  end)

  t("delete_sandbox, then the session is gone", function()
    eq(c:delete_sandbox(id), true, "delete")
    raises("NOX_ENOTFOUND", c.exec, c, id, { "true" })
    raises("NOX_ENOTFOUND", c.delete_sandbox, c, id)
  end)

  t("client close twice, use after close, __close and __gc", function()
    local c3 = make()
    c3:close()
    c3:close()
    local e = raises("NOX_EINVAL", c3.exec, c3, id, { "true" })
    ok(e.message:find("after close", 1, true), "clear message: " .. e.message)
    local kept
    do
      local c4 <close> = make()
      kept = c4
      eq(c4:health_check(), true, "c4 healthy")
    end
    raises("NOX_EINVAL", kept.touch, kept, id)
    kept:close() -- after __close: still fine
    for _ = 1, 5 do
      local tmp = make()
      local s = sid()
      tmp:create_sandbox(s)
      tmp:stream(s, { "sleep", "30" }) -- dropped running: __gc kills it
      tmp:delete_sandbox(s)
    end
    collectgarbage()
    collectgarbage()
  end)

  c:close()
end

local base = S.mktemp_dir("bind")
suite("local", function()
  return Client.new { local_test = true, base_dir = base, agent_path = AGENT }
end)

local ok_srv, srv = pcall(S.start_server, os.getenv("NOXRUNNERD"), AGENT)
if ok_srv then
  suite("http", function() return Client.new { base_url = srv.url, timeout = 30 } end)
  S.stop_server(srv)
  local ok_tok, tsrv = pcall(S.start_server, os.getenv("NOXRUNNERD"), AGENT, { "--token", "lua-secret" })
  test("http: api_key reaches the server as a bearer token", function()
    if not ok_tok then error(tsrv, 0) end
    local anon <close> = Client.new { base_url = tsrv.url }
    raises("NOX_EAUTH", anon.create_sandbox, anon, "lua-auth")
    local authed <close> = Client.new { base_url = tsrv.url, api_key = "lua-secret" }
    ok(authed:create_sandbox("lua-auth").podName, "created with the token")
    eq(authed:exec("lua-auth", { "echo", "in" }).stdout, "in\n", "exec with the token")
    authed:delete_sandbox("lua-auth")
  end)
  if ok_tok then S.stop_server(tsrv) end
else
  test("http: start noxrunnerd", function() error(srv, 0) end)
end
S.rm_rf(base)

-- Every check of the Lua scenario runner can fail: tests/scenarios/selftest.py
-- plays expect_every_kind.json (must pass) and copies of it with one
-- expectation made wrong or one step malformed (each must fail, at that step).
test("the scenario runner's every check can fail (selftest.py)", function()
  local root = here .. "/../../.."
  local cmd = string.format("python3 %s lua5.4 %s 2>&1",
    S.quote(root .. "/tests/scenarios/selftest.py"), S.quote(root .. "/tests/lua/scenario_runner.lua"))
  local out = S.sh(cmd .. "; echo rc=$?")
  ok(out:find("broken copies failed", 1, true) and out:find("rc=0", 1, true), out)
end)

os.exit(T.done() and 0 or 1)
