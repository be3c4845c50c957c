-- wrk script of `make bench`: visible pings spread over SESSIONS sessions per thread,
-- so none repeats within MIN_PING_INTERVAL_SECONDS (each run starts at a random one, so
-- back-to-back runs do not ping the same sessions at once); DELAY_MS paces connections.
local sessions = tonumber(os.getenv("SESSIONS") or "20000")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local threads = 0
local counter = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
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

function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_us=%d p90_us=%d p99_us=%d errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.errors.status))
end
