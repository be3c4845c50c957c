-- ping: for each ping of the call, credit the interval since its session's previous
-- heartbeat by the visibility stored at its start, then store this ping's visibility
-- (R-SEM-2, R-SEM-6, R-SEM-7). One call carries the pings a gateway received together
-- (watchtime/coalesce.py): Redis's cost of a script call is paid once for all of them.
-- KEYS: the webinar's, then one session's per ping, in the order of the pings
-- (session_keyset).
-- ARGV: the four below, then PING_ARGS per ping: the arguments of ping() below, in order.
local now = now_ms(ARGV[1])                -- ms; '' = Redis TIME, one time for the call
local cap_ms = tonumber(ARGV[2])           -- Δt cap, ms
local min_interval_ms = tonumber(ARGV[3])  -- rate limit for repeats of the same visibility
local max_intervals = tonumber(ARGV[4])
local PING_ARGS = 6

local function ping(k, session_id, user_id, visible, active, request_id, extras)
  -- user_id: '' for a guest; visible, active: '1' | '0' as this ping reports (active is
  -- stored, never credited on); request_id: unique per HTTP request, so a retried call is
  -- a no-op; extras: JSON, written only if this ping creates the session.
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
  index(k, session_id, user_id, session.last_heartbeat_at, now)
  -- The webinar's meta is not read: an open session keeps it in the working set (rest.lua)
  -- unless a crash lost the wake of its creation, which the next creation or exit of one of
  -- its sessions, or the sweeper (registry.stranded), makes good.
  return {'ok', credited, session.watched_ms}
end

-- One reply per ping. A ping that fails (a key of the wrong type) answers its error and
-- the others go on, as if each had been its own call.
local replies = {}
for i = 0, (#KEYS - WEBINAR_KEYS) / SESSION_KEYS - 1 do
  local a = 4 + i * PING_ARGS
  local ok, reply = pcall(ping, session_keyset(i), unpack(ARGV, a + 1, a + PING_ARGS))
  if ok then
    replies[i + 1] = reply
  else
    replies[i + 1] = type(reply) == 'table' and reply or redis.error_reply(tostring(reply))
  end
end
return replies
