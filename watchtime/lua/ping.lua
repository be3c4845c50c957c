-- ping: credit the interval since the previous heartbeat by the visibility stored
-- at its start, then store this ping's visibility (R-SEM-2, R-SEM-6, R-SEM-7).
-- KEYS: see session_keyset()
local now = now_ms(ARGV[1])                -- ms; '' = Redis TIME
local session_id = ARGV[2]
local user_id = ARGV[3]                    -- '' for a guest
local visible = ARGV[4]                    -- '1' | '0', as this ping reports
local active = ARGV[5]                     -- '1' | '0', stored, never credited on
local cap_ms = tonumber(ARGV[6])           -- Δt cap, ms
local min_interval_ms = tonumber(ARGV[7])  -- rate limit for repeats of the same visibility
local request_id = ARGV[8]                 -- unique per HTTP request: a retried call is a no-op
local max_intervals = tonumber(ARGV[9])
local extras = ARGV[10]                    -- JSON, written only if this ping creates the session

local k = session_keyset()
local session = load_session(k.session)
if not session then
  local known, dormant = webinar_state(k.meta)
  if not known then return {'no_webinar'} end
  -- The gateway missed the enter: create as track would, this ping counted.
  open_session(k, session_id, user_id, now, visible, active, 1, extras)
  redis.call('HSET', k.session, 'last_request', request_id)
  return {'created', 0, 0, 0, dormant}
end
local refused = refusal(session, user_id)
if refused then return refused end
if session.last_request == request_id then return {'duplicate', 0, session.watched_ms} end

local since = now - session.last_heartbeat_at
if visible == session.visible and since < min_interval_ms then
  return {'rate_limited', 0, 0, min_interval_ms - math.max(since, 0)}
end

local credited = credit(k, session, now, cap_ms, max_intervals)
session.visible, session.active = visible, active
session.ping_count, session.version = session.ping_count + 1, session.version + 1
redis.call('HSET', k.session, 'state', pack_state(session), 'last_request', request_id)
redis.call('ZADD', k.active, session.last_heartbeat_at, session_id)
redis.call('ZADD', k.presence, now, viewer_of(user_id, session_id))
-- The webinar's meta is not read: an open session keeps it in the working set (rest.lua)
-- unless a crash lost the wake of its creation, which the next creation or exit of one of
-- its sessions, or the sweeper (registry.stranded), makes good.
return {'ok', credited, session.watched_ms}
