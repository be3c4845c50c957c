-- wrk script of the system benchmark (loadtest/audience.py): SESSIONS sessions over the
-- webinars of WEBINARS (comma-separated ids), split between THREADS wrk threads, each
-- thread owning one contiguous block of sessions. The first half of the sessions watch
-- the first webinar, the other half are spread over the others.
--   MODE=track: creates each session of the block once (access/track), then stops the
--               thread once each has been answered; the harness stops wrk once every
--               thread has stopped.
--   MODE=ping:  re-pings the block's sessions in turn from START (per thread,
--               comma-separated), so at saturation every session is pinged once every
--               SESSIONS / rate seconds; DELAY_MS paces each connection. done() prints
--               where each thread stopped, for the next load to go on from there.
-- wrk_result.lua, beside this script (wrk loads scripts with luaL_dofile: "@" .. path)
local write_result = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
  .. "wrk_result.lua")
local mode = os.getenv("MODE") or "ping"
local sessions = tonumber(os.getenv("SESSIONS"))
local thread_count = tonumber(os.getenv("THREADS"))
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local user_agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
  .. "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
local threads = {}

local function split(text)
  local items = {}
  for item in string.gmatch(text or "", "[^,]+") do table.insert(items, item) end
  return items
end

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local webinars = split(os.getenv("WEBINARS"))
  local action = mode == "track" and "/access/track" or "/presence/ping"
  paths = {}
  for i, webinar in ipairs(webinars) do paths[i] = "/api/webinars/" .. webinar .. action end
  first = math.floor(id * sessions / thread_count)
  size = math.floor((id + 1) * sessions / thread_count) - first
  counter = tonumber(split(os.getenv("START"))[id + 1] or "0")
  if id == 0 then counter = counter - 1 end  -- wrk makes (and drops) one request to check it
  created = 0
  answered = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = user_agent
  wrk.headers["Referer"] = "https://example.org/webinars/live"
end

local function path_of(session)
  local half = math.floor(sessions / 2)
  if session < half or #paths == 1 then return paths[1] end
  return paths[2 + (session - half) % (#paths - 1)]
end

function request()
  local session = first + counter % size
  counter = counter + 1
  if mode == "track" and counter > size then
    session = first + size - 1  -- asked again (answered "exists") until the thread stops
  end
  local body = string.format('{"session_id":"s-%d","view_state":{"is_visible":true}}', session)
  return wrk.format(nil, path_of(session), nil, body)
end

-- Only tracking reads the answers (wrk skips this call when it is absent): the thread
-- stops once every session of its block has been answered, by the id in the answer.
if mode == "track" then
  function response(status, headers, body)
    local session = string.match(body or "", '"session_id":%s*"s%-(%d+)"')
    if status == 200 and session and not answered[session] then
      answered[session] = true
      created = created + 1
      if created >= size then wrk.thread:stop() end
    end
  end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  write_result(summary, latency)
  local stops = {}
  for i, thread in ipairs(threads) do stops[i] = tostring(thread:get("counter")) end
  io.write("STOPPED " .. table.concat(stops, ",") .. "\n")
end
