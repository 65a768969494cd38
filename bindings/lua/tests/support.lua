--- Test support shared by the Lua tests and the Lua scenario runner:
-- module paths, temp dirs, a noxrunnerd started for the run, base64, and a
-- small tar.gz reader (gzip through the gzip program, tar in Lua) so tests
-- check the downloaded archive itself rather than an extraction of it.

local S = {}

local function dirname(p)
  return p:match("^(.*)/[^/]*$") or "."
end

--- Directory of this file's sibling, the binding (bindings/lua).
S.binding_dir = dirname(dirname(debug.getinfo(1, "S").source:sub(2)))

--- Make `require "noxrunner"` find the in-tree build when there is one
-- (bindings/lua/noxrunner/core.so), else whatever is installed.
function S.use_in_tree_module()
  local d = S.binding_dir
  local f = io.open(d .. "/noxrunner/core.so", "rb")
  if f then
    f:close()
    package.path = d .. "/?.lua;" .. package.path
    package.cpath = d .. "/?.so;" .. package.cpath
  end
end

function S.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Run a shell command and return its whole stdout (and success flag).
function S.sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local pid
--- Process id of this Lua process (the parent of the shell popen starts).
function S.getpid()
  if not pid then pid = tonumber((S.sh("echo $PPID"))) end
  return pid
end

function S.mktemp_dir(tag)
  local out = S.sh("mktemp -d " .. S.quote("/tmp/nox-lua-" .. (tag or "t") .. "-XXXXXX"))
  local d = out:gsub("%s+$", "")
  assert(d ~= "", "mktemp failed")
  return d
end

function S.rm_rf(path)
  if path and path:match("^/tmp/nox%-lua%-") then os.execute("rm -rf " .. S.quote(path)) end
end

function S.sleep(seconds)
  os.execute("sleep " .. string.format("%.3f", seconds))
end

function S.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- ---- noxrunnerd -------------------------------------------------------------

local function alive(p)
  local _, _, code = os.execute("kill -0 " .. p .. " 2>/dev/null")
  return code == 0
end

--- Start noxrunnerd on a free loopback port with its own base dir.
-- Returns {url =, pid =, dir =, log =}; its output goes to a log file so a
-- full pipe can never block it.
-- extra: more command-line arguments (array), e.g. {"--token", "t"}.
function S.start_server(noxrunnerd, agent, extra)
  assert(noxrunnerd and noxrunnerd ~= "", "NOXRUNNERD is not set")
  local dir = S.mktemp_dir("srv")
  local log = dir .. "/noxrunnerd.log"
  local base = dir .. "/base"
  local cmd = S.quote(noxrunnerd) .. " --port 0 --base-dir " .. S.quote(base)
  if agent and agent ~= "" then cmd = cmd .. " --agent " .. S.quote(agent) end
  for _, a in ipairs(extra or {}) do cmd = cmd .. " " .. S.quote(a) end
  local out = S.sh(cmd .. " </dev/null >" .. S.quote(log) .. " 2>&1 & echo $!")
  local srv = { pid = tonumber(out), dir = dir, log = log }
  assert(srv.pid, "could not start noxrunnerd")
  for _ = 1, 200 do
    local text = S.read_file(log) or ""
    local url = text:match("noxrunnerd listening on (http://[%w%.:%[%]]+)")
    if url then srv.url = url; return srv end
    if not alive(srv.pid) then break end
    S.sleep(0.05)
  end
  local text = S.read_file(log) or ""
  S.stop_server(srv)
  error("noxrunnerd did not report its address; its output:\n" .. text)
end

--- SIGTERM, wait up to 5 s, then SIGKILL; removes the server's directory.
function S.stop_server(srv)
  if not srv or not srv.pid then return end
  os.execute("kill -TERM " .. srv.pid .. " 2>/dev/null")
  for _ = 1, 100 do
    if not alive(srv.pid) then break end
    S.sleep(0.05)
  end
  if alive(srv.pid) then os.execute("kill -KILL " .. srv.pid .. " 2>/dev/null") end
  srv.pid = nil
  S.rm_rf(srv.dir)
end

-- ---- base64 -------------------------------------------------------------------

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64INV = {}
for i = 1, 64 do B64INV[B64:byte(i)] = i - 1 end

function S.b64enc(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q = {}
    for k = 1, 4 do
      local v = (n >> (18 - 6 * (k - 1))) & 63
      q[k] = B64:sub(v + 1, v + 1)
    end
    if not b then q[3] = "=" end
    if not c then q[4] = "=" end
    out[#out + 1] = table.concat(q)
  end
  return table.concat(out)
end

function S.b64dec(s)
  s = s:gsub("[%s=]", "")
  local out, bits, nbits = {}, 0, 0
  for i = 1, #s do
    local v = B64INV[s:byte(i)]
    if not v then error("bad base64 character in " .. s) end
    bits = (bits << 6) | v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      out[#out + 1] = string.char((bits >> nbits) & 255)
    end
  end
  return table.concat(out)
end

-- ---- tar.gz -------------------------------------------------------------------

function S.gunzip(data)
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, "wb"))
  f:write(data)
  f:close()
  local out, ok = S.sh("gzip -dc < " .. S.quote(tmp) .. " 2>/dev/null")
  os.remove(tmp)
  if not ok then return nil, "not a valid gzip stream" end
  return out
end

local TYPES = { ["0"] = "file", ["\0"] = "file", ["7"] = "file", ["1"] = "hardlink",
                ["2"] = "symlink", ["3"] = "chardev", ["4"] = "blockdev", ["5"] = "dir",
                ["6"] = "fifo" }

--- Member names compared as the scenario format says: no leading "./",
-- no trailing "/".
function S.norm_name(n)
  n = n:gsub("^%./", ""):gsub("/+$", "")
  return n
end

local function octal(s)
  s = s:match("^[%s%z]*([0-7]*)")
  return tonumber(s ~= "" and s or "0", 8)
end

local function size_field(f)
  local b = f:byte(1)
  if b and b >= 0x80 then       -- GNU base-256 for big sizes
    local n = b & 0x7f
    for i = 2, #f do n = n * 256 + f:byte(i) end
    return n
  end
  return octal(f)
end

local function pax_records(body)
  local rec, p = {}, 1
  while p <= #body do
    local len = tonumber(body:match("^(%d+) ", p))
    if not len or len <= 0 then break end
    local r = body:sub(p, p + len - 1)
    local k, v = r:match("^%d+ ([^=]+)=(.*)\n$")
    if k then rec[k] = v end
    p = p + len
  end
  return rec
end

--- Entries of a tar archive: array of {name, type, mode, content, linkname}
-- in archive order, plus a map by normalised name.
function S.untar(data)
  local list, by_name = {}, {}
  local pos, longname, longlink, pax = 1, nil, nil, nil
  while pos + 511 <= #data do
    local h = data:sub(pos, pos + 511)
    if not h:find("[^%z]") then break end
    local function field(a, len) return (h:sub(a + 1, a + len):gsub("%z.*$", "")) end
    local name, typeflag = field(0, 100), h:sub(157, 157)
    local size = size_field(h:sub(125, 136))
    if h:sub(258, 262) == "ustar" then
      local prefix = field(345, 155)
      if prefix ~= "" then name = prefix .. "/" .. name end
    end
    pos = pos + 512
    local body = data:sub(pos, pos + size - 1)
    pos = pos + ((size + 511) // 512) * 512
    if typeflag == "L" then longname = body:gsub("%z.*$", "")
    elseif typeflag == "K" then longlink = body:gsub("%z.*$", "")
    elseif typeflag == "x" then pax = pax_records(body)
    elseif typeflag == "g" then -- global header: nothing we need
    else
      local e = { name = S.norm_name((pax and pax.path) or longname or name),
                  type = TYPES[typeflag] or ("type " .. typeflag),
                  mode = octal(h:sub(101, 108)) & 4095,
                  linkname = (pax and pax.linkpath) or longlink or field(157, 100) }
      if e.type == "file" then e.content = body end
      list[#list + 1] = e
      by_name[e.name] = e
      longname, longlink, pax = nil, nil, nil
    end
  end
  return list, by_name
end

function S.untargz(data)
  local tar, err = S.gunzip(data)
  if not tar then return nil, err end
  return S.untar(tar)
end

-- ---- a tiny assert harness --------------------------------------------------

--- T = S.harness(); T.test("name", function() ... end); T.done()
function S.harness(label)
  local T = { passed = 0, failed = 0, label = label }
  function T.test(name, fn)
    local ok, err = xpcall(fn, function(e) return debug.traceback(tostring(e), 2) end)
    if ok then
      T.passed = T.passed + 1
      print("ok   " .. name)
    else
      T.failed = T.failed + 1
      print("FAIL " .. name .. "\n     " .. tostring(err):gsub("\n", "\n     "))
    end
  end
  function T.eq(got, want, what)
    if got ~= want then
      error(string.format("%s: want %q, got %q", what or "value", tostring(want), tostring(got)), 2)
    end
  end
  function T.ok(v, what)
    if not v then error((what or "assertion") .. " failed", 2) end
    return v
  end
  --- fn must raise a NoxError with this code; returns the error.
  function T.raises(code, fn, ...)
    local ok, e = pcall(fn, ...)
    if ok then error("expected " .. code .. ", call succeeded", 2) end
    if type(e) ~= "table" or e.code ~= code then
      error("expected " .. code .. ", got " .. tostring(e), 2)
    end
    return e
  end
  function T.done()
    print(string.format("%s%d passed, %d failed", label and (label .. ": ") or "", T.passed, T.failed))
    return T.failed == 0
  end
  return T
end

return S
