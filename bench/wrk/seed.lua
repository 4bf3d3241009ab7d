-- KV v2 writes of SEED_COUNT distinct keys secret/<SEED_PREFIX>0 .. <SEED_PREFIX>(SEED_COUNT-1),
-- 100-byte values, each written exactly once. Thread t of SEED_THREADS takes keys t, t+T, t+2T …;
-- once its keys are all sent, its connections ask sys/health until every write has answered;
-- then the thread creates the file SEED_DONE.<thread> and stops. wrk itself runs until its -d or
-- a SIGINT (bench/scale.sh sends one when every thread's file is there); done() then prints
-- "seeded <answered writes> errors <non-2xx writes>".
local token = os.getenv("BENCH_TOKEN") or "root"
local prefix = os.getenv("SEED_PREFIX") or "k/"
local total = tonumber(os.getenv("SEED_COUNT") or "10000")
local nthreads = tonumber(os.getenv("SEED_THREADS") or "1")
local body = '{"data":{"value":"' .. string.rep("v", 100) .. '"}}'
local headers = { ["X-Vault-Token"] = token, ["Content-Type"] = "application/json" }
local marker = os.getenv("SEED_DONE")
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  nexti, sent, answered, errors, finished = tid, 0, 0, 0, false
  -- wrk 4 calls request() once on the first thread to check it, and never sends that request:
  -- that call must not use up a key.
  checked = tid ~= 0
end
function request()
  if not checked or nexti >= total then
    checked = true
    return wrk.format("GET", "/v1/sys/health")
  end
  local path = "/v1/secret/data/" .. prefix .. nexti
  nexti, sent = nexti + nthreads, sent + 1
  return wrk.format("POST", path, headers, body)
end
function response(status, hdrs, resp)
  if not resp:find('"initialized"', 1, true) then
    answered = answered + 1
    if status ~= 200 then errors = errors + 1 end
  end
  if nexti >= total and answered >= sent and not finished then
    finished = true
    if marker then
      local f = io.open(marker .. "." .. tid, "w")
      if f then f:close() end
    end
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local a, e = 0, 0
  for _, t in ipairs(threads) do
    a, e = a + t:get("answered"), e + t:get("errors")
  end
  io.write(string.format("seeded %d errors %d\n", a, e))
end
