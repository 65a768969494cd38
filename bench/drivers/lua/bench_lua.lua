-- Lua driver of the NoxRunner benchmark suite: times N execs of `true` in
-- a ready sandbox through the Lua binding and prints one JSON object
-- (samples in microseconds) for bench/bench.py.
--
--   lua5.4 bench_lua.lua N WARMUP local BASE_DIR AGENT
--   lua5.4 bench_lua.lua N WARMUP http URL
local noxrunner = require("noxrunner")

local n, warmup, backend = tonumber(arg[1]), tonumber(arg[2]), arg[3]

-- CLOCK_MONOTONIC from benchclock.c (built next to the module by run.sh).
local clock = require("benchclock").now_ns
local clock_name = "clock_gettime(CLOCK_MONOTONIC)"

local c
if backend == "http" then
  c = noxrunner.NoxRunnerClient.new{base_url = arg[4], timeout = 600}
else
  c = noxrunner.NoxRunnerClient.new{local_test = true, base_dir = arg[4], agent_path = arg[5]}
end
local sid = "bench-lua-exec"
c:create_sandbox(sid)
assert(c:wait_for_pod_ready(sid, 30))
local argv = {"true"}
for _ = 1, warmup do
  assert(c:exec(sid, argv).exitCode == 0)
end
local samples = {}
for i = 1, n do
  local t0 = clock()
  local r = c:exec(sid, argv)
  samples[i] = string.format("%.3f", (clock() - t0) / 1e3)
  if r.exitCode ~= 0 then error("exec failed: exit " .. tostring(r.exitCode)) end
end
local iso = c:isolation()
c:delete_sandbox(sid)
c:close()
io.write(string.format('{"mode":"exec","backend":"%s","lua":"%s","clock":"%s","isolation":"%s","samples_us":[%s]}\n',
  backend, _VERSION, clock_name, iso, table.concat(samples, ",")))
