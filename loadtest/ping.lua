-- wrk script of `make bench`: visible pings spread over SESSIONS sessions per thread,
-- so none repeats within MIN_PING_INTERVAL_SECONDS (each run starts at a random one, so
-- back-to-back runs do not ping the same sessions at once); DELAY_MS paces connections.
-- COUNT_ANSWERS=1 (the spike, loadtest/spike.py) counts answers by status and error code,
-- and 503s and 429s without Retry-After, at some cost in wrk's own CPU.
-- wrk_result.lua, beside this script (wrk loads scripts with luaL_dofile: "@" .. path)
local write_result = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
  .. "wrk_result.lua")
local sessions = tonumber(os.getenv("SESSIONS") or "20000")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local threads = {}
local counter = 0
answers = {}  -- status -> count, per thread; "bare" for refusals without Retry-After

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + id)
  counter = math.random(sessions)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local body = string.format('{"session_id":"bench-%d-%d","view_state":{"is_visible":true}}',
    id, counter % sessions)
  return wrk.format(nil, nil, nil, body)
end

function delay()
  return delay_ms
end

if os.getenv("COUNT_ANSWERS") == "1" then
  function response(status, headers, body)
    local answer = tostring(status)
    if status >= 400 then  -- by error code: overloaded, redis_unavailable, too_many_pings ...
      answer = answer .. " " .. (string.match(body or "", '"error":"([^"]+)"') or "?")
    end
    answers[answer] = (answers[answer] or 0) + 1
    local retry_after = headers["retry-after"] or headers["Retry-After"]
    if (status == 503 or status == 429) and not retry_after then
      answers["bare"] = (answers["bare"] or 0) + 1
    end
  end
end

function done(summary, latency, requests)
  write_result(summary, latency)
  io.write(string.format("SOCKET connect=%d read=%d write=%d timeout=%d\n", summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("answers")) do
      io.write(string.format("ANSWER %s=%d\n", status, count))
    end
  end
end
