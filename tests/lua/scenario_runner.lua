#!/usr/bin/env lua5.4
--- Plays every tests/scenarios/*.json through the Lua binding, against the
-- local backend and against a noxrunnerd started for the run, and prints
--   lua-local: N passed, N failed
--   lua-http: N passed, N failed
-- Exits 1 when any scenario failed. See tests/scenarios/README.md.
--
-- Environment: NOXRUNNERD, NOXRUNNER_AGENT, NOX_SCENARIOS (default: the
-- scenarios directory of this checkout), NOX_BACKENDS ("local,http").
-- Arguments: optional Lua patterns; only scenarios whose name matches one
-- are played.

local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../../bindings/lua/tests/?.lua;" .. package.path
local S = require("support")
S.use_in_tree_module()

local noxrunner = require("noxrunner")
local cjson = require("cjson")

local LANG = "lua"
local AGENT = os.getenv("NOXRUNNER_AGENT")
local SCEN_DIR = os.getenv("NOX_SCENARIOS") or (here .. "/../scenarios")
local PID = S.getpid()

-- ---- helpers -------------------------------------------------------------------

local function show(v)
  if type(v) == "string" then
    local more = #v > 300 and ("...(" .. #v .. " bytes)") or ""
    local esc = v:sub(1, 300):gsub('[%c"\\\128-\255]', function(ch)
      local named = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
      return named[ch] or string.format("\\x%02x", ch:byte())
    end)
    return '"' .. esc .. '"' .. more
  end
  if type(v) == "table" then
    local ok, s = pcall(cjson.encode, v)
    return ok and s or tostring(v)
  end
  return tostring(v)
end

-- A failed check: raised as a table so it is told apart from bugs.
local Mismatch = {}
local function fail(fmt, ...)
  error(setmetatable({ msg = string.format(fmt, ...) }, Mismatch), 0)
end

local function int(v) return v and (math.tointeger(v) or v) end

local function list_of(v)
  if type(v) == "table" then return v end
  return { v }
end

local function scenario_files()
  local out = S.sh("ls -1 " .. S.quote(SCEN_DIR) .. " 2>/dev/null")
  local files = {}
  for name in out:gmatch("[^\n]+") do
    if name:match("%.json$") then files[#files + 1] = SCEN_DIR .. "/" .. name end
  end
  table.sort(files)
  return files
end

-- ---- step validation: an unknown op or field fails the scenario ---------------

local EXEC_FIELDS = { "session", "workdir", "env", "timeout", "stdin", "stdin_b64", "max_output" }
local FIELDS = {
  health = {},
  create = { "session", "ttl", "image", "cpu_limit", "memory_limit" },
  touch = { "session" },
  delete = { "session" },
  wait_ready = { "session", "timeout_ms" },
  exec = { "cmd" },
  exec_shell = { "command", "shell" },
  stream = { "cmd", "cancel_after_first_chunk" },
  upload = { "session", "dest", "files" },
  upload_targz = { "session", "dest", "targz_b64" },
  download = { "session", "src" },
  sleep = { "seconds" },
  parallel = { "count", "step" },
}
for _, op in ipairs({ "exec", "exec_shell", "stream" }) do
  for _, f in ipairs(EXEC_FIELDS) do table.insert(FIELDS[op], f) end
end

local RESULT_EXPECT = { "exit_code", "exit_code_not", "stdout", "stderr", "stdout_b64",
  "stderr_b64", "stdout_contains", "stderr_contains", "stdout_not_contains", "stdout_len",
  "stdout_max_len", "timed_out", "stdout_truncated", "stderr_truncated", "duration_ms_max" }
local EXPECT = {
  create = { "pod_name_nonempty" },
  download = { "files", "files_b64", "modes", "dirs", "absent" },
  exec = RESULT_EXPECT, exec_shell = RESULT_EXPECT,
  stream = { "min_chunks", table.unpack(RESULT_EXPECT) },
}

-- sleep and the outer parallel have no expectations (the inner step of a
-- parallel has its own): an `expect` there is refused, never ignored.
local NO_EXPECT = { sleep = true, parallel = true }

local function set(list, op)
  local s = { op = true, expect = not NO_EXPECT[op] }
  for _, k in ipairs(list or {}) do s[k] = true end
  return s
end

local UPLOAD_FILE_FIELDS = { path = true, content = true, content_b64 = true, mode = true }

-- `where` is "" for a top-level step (the caller names it) and names the
-- inner step of a parallel.
local function validate(step, where)
  local fields = FIELDS[step.op]
  if not fields then fail("%sunknown op %s", where, show(step.op)) end
  local known = set(fields, step.op)
  for k in pairs(step) do
    if not known[k] then fail("%sunknown field %q for op %s", where, k, step.op) end
  end
  local ex = step.expect
  if ex then
    if type(ex) ~= "table" then fail("%s\"expect\" is not an object", where) end
    local ek = set(EXPECT[step.op])
    ek.error, ek.message_contains = true, true
    for k in pairs(ex) do
      if not ek[k] then fail("%sunknown expect key %q for op %s", where, k, step.op) end
    end
    -- It checks an error's message: without "error" it could only be
    -- ignored, so it is refused (as in every runner).
    if ex.message_contains ~= nil and ex.error == nil then
      fail("%sexpect.message_contains needs expect.error", where)
    end
  end
  if step.op == "upload" then
    if type(step.files) ~= "table" then fail("%supload needs a \"files\" array", where) end
    for _, f in ipairs(step.files) do
      if type(f) ~= "table" then fail("%supload: a file is not an object", where) end
      for k in pairs(f) do
        if not UPLOAD_FILE_FIELDS[k] then fail("%sunknown file field %q", where, k) end
      end
    end
  end
  if step.op == "parallel" then
    if type(step.step) ~= "table" or (step.step.op ~= "exec" and step.step.op ~= "exec_shell") then
      fail("%sparallel needs an exec or exec_shell step", where)
    end
    validate(step.step, "parallel step: ")
  end
end

-- ---- checking results -------------------------------------------------------------

local function check_result(r, ex, chunks)
  if not ex then return end
  local function eq(key, got, want)
    if want ~= nil and got ~= want then fail("%s: want %s, got %s", key, show(want), show(got)) end
  end
  eq("exit_code", r.exitCode, int(ex.exit_code))
  if ex.exit_code_not ~= nil and r.exitCode == int(ex.exit_code_not) then
    fail("exit_code_not: got %s", show(r.exitCode))
  end
  eq("stdout", r.stdout, ex.stdout)
  eq("stderr", r.stderr, ex.stderr)
  if ex.stdout_b64 then eq("stdout_b64", r.stdout, S.b64dec(ex.stdout_b64)) end
  if ex.stderr_b64 then eq("stderr_b64", r.stderr, S.b64dec(ex.stderr_b64)) end
  for _, pair in ipairs({ { "stdout_contains", r.stdout }, { "stderr_contains", r.stderr } }) do
    if ex[pair[1]] ~= nil then
      for _, sub in ipairs(list_of(ex[pair[1]])) do
        if not pair[2]:find(sub, 1, true) then
          fail("%s: %s not in %s", pair[1], show(sub), show(pair[2]))
        end
      end
    end
  end
  if ex.stdout_not_contains and r.stdout:find(ex.stdout_not_contains, 1, true) then
    fail("stdout_not_contains: %s is in %s", show(ex.stdout_not_contains), show(r.stdout))
  end
  eq("stdout_len", #r.stdout, int(ex.stdout_len))
  if ex.stdout_max_len and #r.stdout > ex.stdout_max_len then
    fail("stdout_max_len: %d > %d", #r.stdout, int(ex.stdout_max_len))
  end
  eq("timed_out", r.timedOut, ex.timed_out)
  eq("stdout_truncated", r.stdoutTruncated, ex.stdout_truncated)
  eq("stderr_truncated", r.stderrTruncated, ex.stderr_truncated)
  if ex.duration_ms_max and r.durationMs > ex.duration_ms_max then
    fail("duration_ms_max: %d > %d", r.durationMs, int(ex.duration_ms_max))
  end
  if ex.min_chunks and (chunks or 0) < ex.min_chunks then
    fail("min_chunks: want at least %d, got %d", int(ex.min_chunks), chunks or 0)
  end
end

local function check_download(targz, ex)
  local list, by_name = S.untargz(targz)
  if not list then fail("download: the archive does not unpack: %s", by_name) end
  if not ex then return end
  local function file(path)
    local e = by_name[S.norm_name(path)]
    if not e then fail("download: %s is not in the archive", path) end
    return e
  end
  for path, text in pairs(ex.files or {}) do
    local e = file(path)
    if e.type ~= "file" then fail("download: %s is a %s, not a file", path, e.type) end
    if e.content ~= text then fail("download: %s: want %s, got %s", path, show(text), show(e.content)) end
  end
  for path, b64 in pairs(ex.files_b64 or {}) do
    local e = file(path)
    if e.type ~= "file" then fail("download: %s is a %s, not a file", path, e.type) end
    if e.content ~= S.b64dec(b64) then
      fail("download: %s: want %s, got %s", path, show(S.b64dec(b64)), show(e.content))
    end
  end
  for path, mode in pairs(ex.modes or {}) do
    local want = type(mode) == "string" and tonumber(mode, 8)
    if not want then fail("download: mode of %s: %s is not an octal string", path, show(mode)) end
    local got = file(path).mode & 4095 -- all of 07777
    if got ~= want then
      fail("download: mode of %s: want %s, got %s", path, mode, string.format("%o", got))
    end
  end
  for _, path in ipairs(ex.dirs or {}) do
    local e = file(path)
    if e.type ~= "dir" then fail("download: %s is a %s, not a directory", path, e.type) end
  end
  for _, path in ipairs(ex.absent or {}) do
    if by_name[S.norm_name(path)] then fail("download: %s should be absent", path) end
  end
end

local function is_iso8601(s)
  return type(s) == "string"
    and s:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.?%d*") ~= nil
    and (s:match("Z$") or s:match("[+-]%d%d:?%d%d$")) ~= nil
end

-- ---- playing steps ------------------------------------------------------------------

local function exec_opts(step)
  local stdin = step.stdin
  if step.stdin_b64 then stdin = S.b64dec(step.stdin_b64) end
  return { workdir = step.workdir, env = step.env, timeout = int(step.timeout), stdin = stdin,
           max_output = int(step.max_output) }
end

local function argv(step)
  if step.op == "exec_shell" then return { step.shell or "sh", "-c", step.command } end
  return step.cmd
end

-- Drain a stream: returns the result with stdout/stderr joined from the
-- chunks, and the chunk count. With cancel_after_first_chunk it cancels
-- after the first stdout chunk and keeps reading (which must raise).
local function drain(st, cancel_after_first)
  local out, err, chunks = {}, {}, 0
  while true do
    local kind, data = st:next(-1)
    if kind == "stdout" then
      out[#out + 1] = data
      chunks = chunks + 1
      if cancel_after_first then st:cancel() end
    elseif kind == "stderr" then
      err[#err + 1] = data
      chunks = chunks + 1
    elseif kind == "exit" then
      local r = {}
      for k, v in pairs(data) do r[k] = v end
      r.stdout, r.stderr = table.concat(out), table.concat(err)
      return r, chunks
    end
  end
end

-- `parallel`: Lua has no threads, so start every repetition as a stream
-- and drain them round-robin; the commands run at the same time in the
-- sandbox. Returns one {result=, chunks=} or {err=} per repetition.
local function run_parallel(c, id, step, count)
  local reps = {}
  for i = 0, count - 1 do
    local function sub(v)
      if type(v) == "string" then return (v:gsub("%$I", tostring(i))) end
      if type(v) == "table" then
        local t = {}
        for k, x in pairs(v) do t[k] = sub(x) end
        return t
      end
      return v
    end
    local s = sub(step)
    local rep = { step = s }
    local ok, st = pcall(c.stream, c, id(s.session), argv(s), exec_opts(s))
    if ok then rep.stream, rep.out, rep.err, rep.chunks = st, {}, {}, 0 else rep.error = st end
    reps[i + 1] = rep
  end
  local active = true
  while active do
    active = false
    for _, rep in ipairs(reps) do
      if rep.stream and not rep.result and not rep.error then
        active = true
        local ok, kind, data = pcall(rep.stream.next, rep.stream, 20)
        if not ok then rep.error = kind
        elseif kind == "stdout" then rep.out[#rep.out + 1] = data; rep.chunks = rep.chunks + 1
        elseif kind == "stderr" then rep.err[#rep.err + 1] = data; rep.chunks = rep.chunks + 1
        elseif kind == "exit" then
          local r = {}
          for k, v in pairs(data) do r[k] = v end
          r.stdout, r.stderr = table.concat(rep.out), table.concat(rep.err)
          rep.result = r
        end
      end
    end
  end
  for _, rep in ipairs(reps) do
    if rep.stream then rep.stream:close() end
  end
  return reps
end

local function compare_error(e, ex)
  if not noxrunner.is_error(e) then error(e, 0) end -- a bug, not a result
  if not ex or not ex.error then fail("unexpected error %s", tostring(e)) end
  if e.code ~= ex.error then fail("want error %s, got %s", ex.error, tostring(e)) end
  if ex.message_contains and not e.message:find(ex.message_contains, 1, true) then
    fail("error message %s does not contain %s", show(e.message), show(ex.message_contains))
  end
end

-- Run one step; `id` maps a session field to the real session id.
local function play(c, step, id)
  local ex = step.expect
  local op = step.op
  if op == "sleep" then S.sleep(step.seconds or 0); return end
  if op == "parallel" then
    local count = int(step.count)
    for i, rep in ipairs(run_parallel(c, id, step.step, count)) do
      local ok, m = pcall(function()
        if rep.error then compare_error(rep.error, rep.step.expect)
        elseif rep.step.expect and rep.step.expect.error then
          fail("want error %s, the command succeeded", rep.step.expect.error)
        else check_result(rep.result, rep.step.expect) end
      end)
      if not ok then
        if getmetatable(m) == Mismatch then fail("repetition %d: %s", i - 1, m.msg) end
        error(m, 0)
      end
    end
    return
  end

  local ok, r1, r2 = pcall(function()
    if op == "health" then
      local healthy, e = c:health_check()
      if not healthy then error(e, 0) end
    elseif op == "create" then
      return c:create_sandbox(id(step.session), int(step.ttl), {
        image = step.image, cpu_limit = step.cpu_limit, memory_limit = step.memory_limit,
        ephemeral_storage_limit = step.ephemeral_storage_limit })
    elseif op == "touch" then c:touch(id(step.session))
    elseif op == "delete" then c:delete_sandbox(id(step.session))
    elseif op == "wait_ready" then
      local ready, e = c:wait_for_pod_ready(id(step.session), (step.timeout_ms or 30000) / 1000)
      if not ready then error(e, 0) end
    elseif op == "exec" or op == "exec_shell" then
      return c:exec(id(step.session), argv(step), exec_opts(step))
    elseif op == "stream" then
      local st <close> = c:stream(id(step.session), step.cmd, exec_opts(step))
      return drain(st, step.cancel_after_first_chunk)
    elseif op == "upload" then
      local files = {}
      for i, f in ipairs(step.files or {}) do
        files[i] = { path = f.path, mode = int(f.mode),
                     content = f.content_b64 and S.b64dec(f.content_b64) or f.content }
      end
      if #files == 0 then files = {} end
      c:upload_files(id(step.session), files, step.dest)
    elseif op == "upload_targz" then
      c:upload_targz(id(step.session), S.b64dec(step.targz_b64), step.dest)
    elseif op == "download" then
      return c:download_files(id(step.session), step.src)
    end
  end)
  if not ok then return compare_error(r1, ex) end
  if ex and ex.error then fail("want error %s, the call succeeded", ex.error) end
  if op == "create" then
    if type(r1.podName) ~= "string" or r1.podName == "" then fail("create: empty podName") end
    if not is_iso8601(r1.expiresAt) then fail("create: expiresAt %s is not ISO-8601", show(r1.expiresAt)) end
  elseif op == "exec" or op == "exec_shell" or op == "stream" then
    check_result(r1, ex, r2)
  elseif op == "download" then
    check_download(r1, ex)
  end
end

-- ---- scenarios ----------------------------------------------------------------------

local function run_scenario(c, backend, path)
  local text = S.read_file(path)
  local ok, sc = pcall(cjson.decode, text or "")
  if not ok or type(sc) ~= "table" then return false, "not valid JSON" end
  local name = path:match("([^/]+)%.json$")
  if sc.name ~= name then return false, "name " .. show(sc.name) .. " differs from the file name" end
  for k in pairs(sc) do
    if not ({ name = 1, description = 1, backends = 1, steps = 1 })[k] then
      return false, "unknown scenario field " .. show(k)
    end
  end
  if type(sc.steps) ~= "table" or #sc.steps == 0 then return false, "no steps" end
  if type(sc.backends) == "table" then
    local wanted = false
    for _, b in ipairs(sc.backends) do if b == backend then wanted = true end end
    if not wanted then return nil end -- limited to the other backend
  end
  local touched = {}
  local function id(session)
    if type(session) ~= "string" then fail("step needs a session") end
    local s = session:gsub("%$S(%d?)", function(n)
      return string.format("%s-%s-%d-%s-%s", LANG, backend, PID, name, n ~= "" and n or "1")
    end)
    touched[s] = true
    return s
  end
  local result, msg = true, nil
  for i, step in ipairs(sc.steps or {}) do
    local where = "step " .. (i - 1) .. " (" .. tostring(step.op) .. ")"
    local sok, err = pcall(function()
      validate(step, "")
      play(c, step, id)
    end)
    if not sok then
      result = false
      if getmetatable(err) == Mismatch then msg = where .. ": " .. err.msg
      else msg = where .. ": runner error: " .. tostring(err) end
      break
    end
  end
  for s in pairs(touched) do pcall(c.delete_sandbox, c, s) end
  return result, msg
end

local function run_backend(backend, files, patterns)
  local passed, failed, failures = 0, 0, {}
  local base, srv, c
  local ok, err = pcall(function()
    if backend == "local" then
      base = S.mktemp_dir("local")
      c = noxrunner.NoxRunnerClient.new { local_test = true, base_dir = base, agent_path = AGENT }
    else
      srv = S.start_server(os.getenv("NOXRUNNERD"), AGENT)
      c = noxrunner.NoxRunnerClient.new { base_url = srv.url }
    end
  end)
  if not ok then
    failures[1] = LANG .. "-" .. backend .. ": could not set up the backend: " .. tostring(err)
    failed = math.max(#files, 1)
  else
    for _, path in ipairs(files) do
      local name = path:match("([^/]+)%.json$")
      local wanted = #patterns == 0
      for _, p in ipairs(patterns) do if name:match(p) then wanted = true end end
      if wanted then
        local t0 = os.time()
        local r, msg = run_scenario(c, backend, path)
        if r == true then passed = passed + 1
        elseif r == false then
          failed = failed + 1
          failures[#failures + 1] = string.format("%s-%s %s: %s", LANG, backend, name, msg)
        end
        if os.getenv("NOX_VERBOSE") then
          io.stderr:write(string.format("%s %s %s (%ds)\n", backend, name,
            r == nil and "skip" or (r and "ok" or "FAIL"), os.time() - t0))
        end
      end
    end
  end
  if c then c:close() end
  if srv then
    if failed > 0 and os.getenv("NOX_VERBOSE") then io.stderr:write(S.read_file(srv.log) or "") end
    S.stop_server(srv)
  end
  S.rm_rf(base)
  return passed, failed, failures
end

local files = scenario_files()
if #files == 0 then
  io.stderr:write("no scenarios found in " .. SCEN_DIR .. "\n")
end
local backends = {}
for b in (os.getenv("NOX_BACKENDS") or "local,http"):gmatch("[^,]+") do backends[#backends + 1] = b end

local summary, all_ok = {}, #files > 0
for _, backend in ipairs(backends) do
  local passed, failed, failures = run_backend(backend, files, arg)
  for _, f in ipairs(failures) do print("FAIL " .. f) end
  summary[#summary + 1] = string.format("%s-%s: %d passed, %d failed", LANG, backend, passed, failed)
  if failed > 0 then all_ok = false end
end
for _, line in ipairs(summary) do print(line) end
os.exit(all_ok and 0 or 1)
