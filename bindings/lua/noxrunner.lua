--- noxrunner: run untrusted code in a sandbox, locally or through a server.
--
--   local noxrunner = require("noxrunner")
--   local c <close> = noxrunner.NoxRunnerClient.new{local_test = true}
--   c:create_sandbox("s1")
--   local r = c:exec("s1", {"echo", "hi"})      -- r.exitCode, r.stdout, ...
--   for kind, data in c:stream("s1", {"ls"}) do io.write(data) end
--
-- Failures raise a noxrunner.NoxError table {code = "NOX_ENOTFOUND",
-- message = ..., http_status = ..., body = ...} that prints as
-- "NOX_ENOTFOUND: <message>". Every method also has a try_ twin
-- (c:try_exec(...)) returning nil, message, code instead of raising.
--
-- This file is the whole binding's Lua side: the raw functions come from
-- the SWIG module noxrunner.core (see noxrunner.i), which returns
-- `rc, out..., err` for every fallible call.

local core = require("noxrunner.core")

local M = {}
M.core = core
M._VERSION = core.nox_version_string()

if core.nox_abi_version() ~= core.NOX_ABI_VERSION then
  error(string.format("noxrunner: loaded libnoxrunner has ABI %d, this binding was built for %d",
    core.nox_abi_version(), core.NOX_ABI_VERSION))
end

-- ---- errors ---------------------------------------------------------------

local NoxError = {}
NoxError.__index = NoxError
NoxError.__name = "noxrunner.NoxError"
NoxError.__tostring = function(e)
  if e.http_status and e.http_status ~= 0 then
    return string.format("%s: %s (HTTP %d)", e.code, e.message, e.http_status)
  end
  return e.code .. ": " .. e.message
end
M.NoxError = NoxError

--- true when v is an error raised by this binding.
function M.is_error(v)
  return getmetatable(v) == NoxError
end

local function make_error(rc, e)
  if not e then
    e = { code = core.nox_code_name(rc), errno = rc,
          message = core.nox_code_description(rc), http_status = 0 }
  end
  e.http_status = e.http_status or 0
  return setmetatable(e, NoxError)
end

local function raise(rc, e)
  error(make_error(rc, e), 0)
end

local function invalid(msg)
  raise(core.NOX_EINVAL, { code = "NOX_EINVAL", errno = core.NOX_EINVAL,
                           message = msg, http_status = 0 })
end

-- ---- option helpers ---------------------------------------------------------

local function check_keys(what, t, known)
  if t == nil then return end
  if type(t) ~= "table" then invalid(what .. ": options must be a table") end
  for k in pairs(t) do
    if not known[k] then invalid(string.format("%s: unknown option %q", what, tostring(k))) end
  end
end

local function set_of(...)
  local s = {}
  for _, k in ipairs({ ... }) do s[k] = true end
  return s
end

local function to_int(what, v)
  if v == nil then return nil end
  if type(v) ~= "number" then invalid(what .. " must be a number") end
  return math.tointeger(v) or math.ceil(v)
end

local function seconds_to_ms(v)
  if v == nil then return nil end
  if type(v) ~= "number" or v < 0 then invalid("timeouts are non-negative numbers of seconds") end
  return math.floor(v * 1000 + 0.5)
end

local ISOLATION = { auto = core.NOX_ISOLATION_AUTO, none = core.NOX_ISOLATION_NONE,
                    namespaces = core.NOX_ISOLATION_NAMESPACES }

-- "K=V" array from a map {K = V} (sorted, so runs are reproducible) or an
-- array that is already in that form. The core checks each entry (a
-- missing '=', an empty name); only a '=' inside a map key is checked
-- here, since the joined "K=V" no longer shows it.
local function env_array(env)
  if env == nil then return nil end
  if type(env) ~= "table" then invalid("env must be a table") end
  local out = {}
  if #env > 0 then
    for i, kv in ipairs(env) do
      if type(kv) ~= "string" then
        invalid("env item " .. i .. " must be a \"K=V\" string")
      end
      out[i] = kv
    end
    return out
  end
  local keys = {}
  for k, v in pairs(env) do
    if type(k) ~= "string" then invalid("env names must be strings") end
    if k:find("=", 1, true) then
      invalid("environment variable name \"" .. k .. "\" contains '='")
    end
    if type(v) ~= "string" and type(v) ~= "number" then
      invalid("env value of " .. k .. " must be a string")
    end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for i, k in ipairs(keys) do out[i] = k .. "=" .. tostring(env[k]) end
  return out
end

local EXEC_KEYS = set_of("workdir", "env", "timeout", "timeout_seconds", "stdin",
                         "max_output", "max_output_bytes")

local function exec_options(opts)
  check_keys("exec", opts, EXEC_KEYS)
  if opts == nil then return nil end
  if opts.stdin ~= nil and type(opts.stdin) ~= "string" then invalid("stdin must be a string") end
  if opts.workdir ~= nil and type(opts.workdir) ~= "string" then invalid("workdir must be a string") end
  return {
    workdir = opts.workdir,
    env = env_array(opts.env),
    timeout_seconds = to_int("timeout", opts.timeout_seconds or opts.timeout),
    stdin = opts.stdin,
    max_output_bytes = to_int("max_output", opts.max_output_bytes or opts.max_output),
  }
end

local function argv_of(cmd)
  if type(cmd) ~= "table" then
    invalid("cmd must be an array of strings (use exec_shell for a shell command line)")
  end
  local argv = {}
  for i, a in ipairs(cmd) do
    if type(a) ~= "string" then invalid("cmd item " .. i .. " must be a string") end
    argv[i] = a
  end
  return argv
end

local function check_id(id)
  if type(id) ~= "string" then invalid("session id must be a string") end
  return id
end

-- A raw handle guarded by a finalizer until it is explicitly released,
-- so a Lua error between creating and freeing it never leaks.
local Guard = { __gc = function(g) g:release() end, __close = function(g) g:release() end }
Guard.__index = Guard
function Guard:release()
  local p = self.p
  if p then self.p = nil; self.free(p) end
end
local function guard(p, free) return setmetatable({ p = p, free = free }, Guard) end

-- ---- the stream object -----------------------------------------------------

local KIND = { [core.NOX_EVENT_NONE] = "none", [core.NOX_EVENT_STDOUT] = "stdout",
               [core.NOX_EVENT_STDERR] = "stderr", [core.NOX_EVENT_EXIT] = "exit" }

local Stream = {}
Stream.__index = Stream
Stream.__name = "noxrunner.Stream"
M.Stream = Stream

local function stream_handle(self)
  if getmetatable(self) ~= Stream then invalid("Stream method called without a stream (use s:method())") end
  local s = self._s
  if not s then invalid("Stream used after close()") end
  return s
end

--- Next event, waiting up to timeout_ms (-1 or nil: no limit).
-- Returns kind ("stdout", "stderr", "exit" or "none" when the time passed),
-- and the chunk for output events or the result table for "exit".
-- Raises NOX_ECANCELED after cancel().
function Stream:next(timeout_ms)
  local s = stream_handle(self)
  if self._result then return "exit", self._result end
  local rc, kind, data, err = core.nox_exec_next(s, to_int("timeout_ms", timeout_ms) or -1)
  if rc ~= 0 then raise(rc, err) end
  local name = KIND[kind] or "none"
  if name == "exit" then
    self._result = core.nox_exec_stream_result(s)
    return "exit", self._result
  end
  return name, data
end

--- The exit result once "exit" was seen, else nil.
function Stream:result()
  return self._result
end

--- Kill the command and everything it started; idempotent. Later next()
-- calls raise NOX_ECANCELED. A no-op on a closed stream.
function Stream:cancel()
  if getmetatable(self) ~= Stream then invalid("Stream method called without a stream (use s:method())") end
  if self._s then core.nox_exec_cancel(self._s) end
end

--- Free the stream (a command still running is killed). Safe to call twice.
function Stream:close()
  local s = rawget(self, "_s")
  if s then
    self._s = nil
    core.nox_exec_stream_free(s)
  end
end
Stream.__gc = Stream.close
Stream.__close = Stream.close

--- Iterator protocol: `for kind, data in stream do`. Yields output chunks,
-- then ("exit", result) once, then ends.
Stream.__call = function(self)
  if self._done then return nil end
  local kind, data
  repeat kind, data = self:next(-1) until kind ~= "none"
  if kind == "exit" then self._done = true end
  return kind, data
end

--- Drain the stream and return the exit result with stdout and stderr
-- filled in from the chunks, plus `chunks` (how many arrived).
function Stream:wait()
  local out, errs, chunks = {}, {}, 0
  for kind, data in self do
    if kind == "stdout" then out[#out + 1] = data; chunks = chunks + 1
    elseif kind == "stderr" then errs[#errs + 1] = data; chunks = chunks + 1 end
  end
  local r = {}
  for k, v in pairs(self._result) do r[k] = v end
  r.stdout, r.stderr, r.chunks = table.concat(out), table.concat(errs), chunks
  return r
end

-- ---- the client ---------------------------------------------------------------

local Client = {}
Client.__index = Client
Client.__name = "noxrunner.NoxRunnerClient"
M.NoxRunnerClient = Client

local function handle(self)
  if getmetatable(self) ~= Client then
    invalid("NoxRunnerClient method called without a client (use c:method())")
  end
  local c = self._c
  if not c then invalid("NoxRunnerClient used after close()") end
  return c
end

local CLIENT_KEYS = set_of("base_url", "local_test", "base_dir", "agent_path", "isolation",
  "api_key", "timeout", "connect_timeout", "max_retries", "tls_verify", "ca_file",
  "user_agent", "max_output_bytes", "max_archive_bytes", "max_archive_entries",
  "transfer_timeout")

--- NoxRunnerClient.new{base_url = "http://127.0.0.1:8080", api_key =, timeout = (s), ...}
-- timeout bounds a request (for uploads and downloads: how long no byte
-- moves); transfer_timeout (s, default 3600) a whole upload or download.
-- or NoxRunnerClient.new{local_test = true, base_dir =, agent_path =, isolation = "auto"}.
-- NoxRunnerClient.new("http://host:port", {timeout = 10}) also works.
function Client.new(base_url, opts)
  if type(base_url) == "table" then opts, base_url = base_url, nil end
  opts = opts or {}
  check_keys("NoxRunnerClient.new", opts, CLIENT_KEYS)
  base_url = base_url or opts.base_url
  local o = {
    api_key = opts.api_key,
    request_timeout_ms = seconds_to_ms(opts.timeout),
    connect_timeout_ms = seconds_to_ms(opts.connect_timeout),
    transfer_timeout_ms = seconds_to_ms(opts.transfer_timeout),
    max_retries = to_int("max_retries", opts.max_retries),
    ca_file = opts.ca_file,
    user_agent = opts.user_agent,
    max_output_bytes = to_int("max_output_bytes", opts.max_output_bytes),
    max_archive_bytes = to_int("max_archive_bytes", opts.max_archive_bytes),
    max_archive_entries = to_int("max_archive_entries", opts.max_archive_entries),
  }
  if opts.tls_verify ~= nil then o.tls_verify = opts.tls_verify and 1 or 0 end
  if opts.local_test then
    o.backend = core.NOX_BACKEND_LOCAL
    o.base_dir = opts.base_dir
    o.agent_path = opts.agent_path
    local iso = opts.isolation
    if iso ~= nil then
      o.isolation = ISOLATION[iso] or invalid("isolation must be \"auto\", \"none\" or \"namespaces\"")
    end
  else
    if type(base_url) ~= "string" then invalid("NoxRunnerClient.new: base_url is required unless local_test is set") end
    o.backend = core.NOX_BACKEND_HTTP
    o.base_url = base_url
  end
  local rc, c, err = core.nox_client_new(o)
  if rc ~= 0 then raise(rc, err) end
  return setmetatable({ _c = c }, Client)
end

--- Free the client. Streams it started stay usable. Safe to call twice.
function Client:close()
  local c = rawget(self, "_c")
  if c then
    self._c = nil
    core.nox_client_free(c)
  end
end
Client.__gc = Client.close
Client.__close = Client.close
Client.__tostring = function(self)
  local c = rawget(self, "_c")
  if not c then return "NoxRunnerClient (closed)" end
  return "NoxRunnerClient (" .. self:backend() .. ")"
end

--- "local" or "http".
function Client:backend()
  return core.nox_client_backend(handle(self)) == core.NOX_BACKEND_LOCAL and "local" or "http"
end

--- Isolation level in force: "none", "namespaces", or "auto" when unknown.
function Client:isolation()
  return core.nox_isolation_name(core.nox_client_isolation(handle(self)))
end

--- true when the backend is healthy; false, error otherwise (never raises
-- for an unhealthy backend, as in the Python client).
function Client:health_check()
  local rc, err = core.nox_health(handle(self))
  if rc ~= 0 then return false, make_error(rc, err) end
  return true
end

--- The backend's description as JSON text.
function Client:info_json()
  local rc, text, err = core.nox_info(handle(self))
  if rc ~= 0 then raise(rc, err) end
  return text
end

--- The backend's description as a table (name, version, extensions,
-- isolation); needs lua-cjson, else use info_json().
function Client:info()
  local text = self:info_json()
  local ok, cjson = pcall(require, "cjson")
  if not ok then raise(core.NOX_EUNSUPPORTED, { code = "NOX_EUNSUPPORTED", errno = core.NOX_EUNSUPPORTED,
    message = "info() decodes JSON with lua-cjson, which is not installed; use info_json()" }) end
  return cjson.decode(text)
end

local SANDBOX_KEYS = set_of("ttl_seconds", "image", "cpu_limit", "memory_limit",
                            "ephemeral_storage_limit")

--- Create the sandbox for id, or return the live one (refreshing its TTL).
-- Returns {podName =, expiresAt =, sessionId =, expiresAtUnix =}.
-- opts: image, cpu_limit, memory_limit, ephemeral_storage_limit.
function Client:create_sandbox(id, ttl_seconds, opts)
  local c = handle(self)
  if type(ttl_seconds) == "table" then opts, ttl_seconds = ttl_seconds, nil end
  check_keys("create_sandbox", opts, SANDBOX_KEYS)
  opts = opts or {}
  local o = { ttl_seconds = to_int("ttl_seconds", ttl_seconds or opts.ttl_seconds),
              image = opts.image, cpu_limit = opts.cpu_limit, memory_limit = opts.memory_limit,
              ephemeral_storage_limit = opts.ephemeral_storage_limit }
  local rc, info, err = core.nox_sandbox_create(c, check_id(id), o)
  if rc ~= 0 then raise(rc, err) end
  return info
end

--- One sandbox's info (HTTP: needs the server's listing extension).
function Client:get_sandbox(id)
  local rc, info, err = core.nox_sandbox_get(handle(self), check_id(id))
  if rc ~= 0 then raise(rc, err) end
  return info
end

--- Array of live sandboxes' info tables.
function Client:list_sandboxes()
  local rc, list, err = core.nox_sandbox_list_all(handle(self))
  if rc ~= 0 then raise(rc, err) end
  return list
end

--- Extend the TTL. Returns true.
function Client:touch(id)
  local rc, err = core.nox_sandbox_touch(handle(self), check_id(id))
  if rc ~= 0 then raise(rc, err) end
  return true
end

--- Kill everything in the sandbox and remove it. Returns true; raises
-- NOX_ENOTFOUND for an unknown sandbox.
function Client:delete_sandbox(id)
  local rc, err = core.nox_sandbox_delete(handle(self), check_id(id))
  if rc ~= 0 then raise(rc, err) end
  return true
end

--- Wait until the sandbox answers (timeout in seconds, default 30).
-- true when ready, false when the time ran out (as in the Python client);
-- other failures raise.
function Client:wait_for_pod_ready(id, timeout)
  local ms = seconds_to_ms(timeout or 30)
  local rc, err = core.nox_sandbox_wait_ready(handle(self), check_id(id), ms)
  if rc == core.NOX_ETIMEOUT then return false, make_error(rc, err) end
  if rc ~= 0 then raise(rc, err) end
  return true
end

--- Run cmd (an array, never through a shell).
-- opts: workdir, env ({K = V} or {"K=V"}), timeout (seconds), stdin (bytes),
-- max_output (bytes per stream).
-- Returns {exitCode, stdout, stderr, durationMs, timedOut, stdoutTruncated,
-- stderrTruncated, signal}; stdout/stderr are byte strings.
function Client:exec(id, cmd, opts)
  local c = handle(self)
  local rc, result, err = core.nox_exec(c, check_id(id), argv_of(cmd), exec_options(opts))
  if rc ~= 0 then raise(rc, err) end
  return result
end

--- exec of {shell, "-c", command}; shell defaults to "sh". The shell
-- argument may be left out: c:exec_shell(id, "echo $X", {env = {X = "1"}}).
function Client:exec_shell(id, command, shell, opts)
  if type(shell) == "table" then opts, shell = shell, nil end
  if type(command) ~= "string" then invalid("command must be a string") end
  return self:exec(id, { shell or "sh", "-c", command }, opts)
end

--- Streaming exec: returns a Stream, usable directly in a generic for
--   for kind, data in c:stream(id, {"make"}) do ... end
-- (kind "stdout"/"stderr" with a chunk, then "exit" with the result table;
-- the loop closes the stream when it ends or breaks). Keep the stream to
-- cancel it: local s <close> = c:stream(...); ...; s:cancel().
function Client:stream(id, cmd, opts)
  local c = handle(self)
  local rc, s, err = core.nox_exec_start(c, check_id(id), argv_of(cmd), exec_options(opts))
  if rc ~= 0 then raise(rc, err) end
  local st = setmetatable({ _s = s }, Stream)
  return st, nil, nil, st
end

local function file_mode(path, mode)
  if mode == nil then return 0 end
  if type(mode) == "string" then
    local m = tonumber(mode, 8)
    if not m then invalid("mode of " .. path .. " must be an octal string such as \"755\"") end
    return m
  end
  return to_int("mode of " .. path, mode)
end

-- Normalise a files table into a sorted array of {path, content, mode}.
-- Accepts {path = content}, {path = {content =, mode =}} and an array of
-- {path =, content =, mode =}.
local function file_list(files)
  if type(files) ~= "table" then invalid("files must be a table") end
  local list = {}
  if #files > 0 then
    for i, f in ipairs(files) do
      if type(f) ~= "table" or type(f.path) ~= "string" then invalid("files item " .. i .. " needs a path") end
      list[#list + 1] = { f.path, f.content, f.mode }
    end
  else
    for path, v in pairs(files) do
      if type(path) ~= "string" then invalid("file names must be strings") end
      if type(v) == "table" then
        list[#list + 1] = { path, v.content, v.mode }
      else
        list[#list + 1] = { path, v, nil }
      end
    end
    table.sort(list, function(a, b) return a[1] < b[1] end)
  end
  for _, f in ipairs(list) do
    if type(f[2]) ~= "string" then invalid("content of " .. f[1] .. " must be a string") end
    f[3] = file_mode(f[1], f[3])
  end
  return list
end

--- Upload an in-memory file set into dest (default /workspace).
-- files: {["dir/a.txt"] = "content", ["run.sh"] = {content = "...", mode = "755"}}.
function Client:upload_files(id, files, dest)
  local c = handle(self)
  check_id(id)
  local list = file_list(files)
  local rc, f, err = core.nox_files_new()
  if rc ~= 0 then raise(rc, err) end
  local g <close> = guard(f, core.nox_files_free)
  for _, e in ipairs(list) do
    rc, err = core.nox_files_add(f, e[1], e[2], e[3])
    if rc ~= 0 then raise(rc, err) end
  end
  rc, err = core.nox_upload(c, id, f, dest)
  if rc ~= 0 then raise(rc, err) end
  return true
end

--- Upload a ready tar.gz archive (a byte string) into dest.
function Client:upload_targz(id, targz, dest)
  if type(targz) ~= "string" then invalid("archive must be a string of bytes") end
  local rc, err = core.nox_upload_targz(handle(self), check_id(id), targz, dest)
  if rc ~= 0 then raise(rc, err) end
  return true
end

--- Upload the contents of a local directory into dest.
function Client:upload_dir(id, local_dir, dest)
  local rc, err = core.nox_upload_dir(handle(self), check_id(id), local_dir, dest)
  if rc ~= 0 then raise(rc, err) end
  return true
end

--- Everything under src (default /workspace) as tar.gz bytes.
function Client:download_files(id, src)
  local rc, data, err = core.nox_download(handle(self), check_id(id), src)
  if rc ~= 0 then raise(rc, err) end
  return data
end

--- Download src and extract it safely into local_dir. Returns true.
function Client:download_workspace(id, local_dir, src)
  if type(local_dir) ~= "string" then invalid("local_dir must be a string") end
  local rc, err = core.nox_download_to_dir(handle(self), check_id(id), src, local_dir)
  if rc ~= 0 then raise(rc, err) end
  return true
end

-- try_<method>: the same call, returning nil, message, code instead of
-- raising a NoxError (other Lua errors, i.e. bugs, still propagate).
local function try_wrap(f)
  return function(...)
    local r = table.pack(pcall(f, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local e = r[2]
    if getmetatable(e) == NoxError then return nil, e.message, e.code end
    error(e, 0)
  end
end
for _, name in ipairs({ "create_sandbox", "get_sandbox", "list_sandboxes", "touch",
    "delete_sandbox", "wait_for_pod_ready", "exec", "exec_shell", "stream", "upload_files",
    "upload_targz", "upload_dir", "download_files", "download_workspace", "info",
    "info_json" }) do
  Client["try_" .. name] = try_wrap(Client[name])
end
M.try_new = try_wrap(Client.new)

M.new = Client.new

--- Stable name of a numeric code ("NOX_ENOTFOUND").
M.code_name = core.nox_code_name

return M
