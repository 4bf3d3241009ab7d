-- AppRole login with one role-id/secret-id pair (unlimited uses), as a fleet of services would.
-- With LOGINS=N (and THREADS, wrk's -t), each thread stops after its share of N answers (a few
-- more logins may be in flight then) and appends a line to DONE_FILE: wrk itself runs for its whole
-- -d, so the caller sends it SIGINT once every thread has written. The summary says how many were 200.
local role_id = os.getenv("ROLE_ID")
local secret_id = os.getenv("SECRET_ID")
wrk.method = "POST"
wrk.path = "/v1/auth/approle/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"role_id":"' .. role_id .. '","secret_id":"' .. secret_id .. '"}'

local logins = tonumber(os.getenv("LOGINS") or "")
if logins then
  local nthreads = tonumber(os.getenv("THREADS") or "1")
  local threads = {}
  function setup(thread)
    table.insert(threads, thread)
    local k = #threads
    thread:set("quota", math.floor(logins / nthreads) + (k <= logins % nthreads and 1 or 0))
  end
  local done_file = os.getenv("DONE_FILE")
  function init(args)
    ok, failed, stopped = 0, 0, false
  end
  function response(status, headers, body)
    if stopped then return end
    if status == 200 then ok = ok + 1 else failed = failed + 1 end
    if ok + failed >= quota then
      stopped = true
      wrk.thread:stop()
      if done_file then
        local f = io.open(done_file, "a"); f:write("done\n"); f:close()
      end
    end
  end
  function done(summary, latency, requests)
    local o, f = 0, 0
    for _, t in ipairs(threads) do o, f = o + t:get("ok"), f + t:get("failed") end
    io.write(string.format("logins ok=%d failed=%d\n", o, f))
  end
end
