-- sweep: close open sessions whose last heartbeat is older than the stale limit, at that
-- heartbeat (never later: no over-crediting), reason 'timeout' (R-SEM-5). Each session is
-- re-checked here, so a ping that landed after the sweeper chose it wins.
-- KEYS[1] active, KEYS[2] presence, KEYS[3] closed, KEYS[4] tabs, KEYS[5] guests, then one
-- session key each
local now = now_ms(ARGV[1])         -- ms; '' = Redis TIME
local stale_ms = tonumber(ARGV[2])  -- SESSION_STALE_AFTER_SECONDS in ms
-- ARGV[3..]: the session ids of KEYS[6..]

local cutoff = now - stale_ms
local closed = 0
for i = 3, #ARGV do
  local session_id = ARGV[i]
  local k = {session = KEYS[i + 3], active = KEYS[1], presence = KEYS[2], closed = KEYS[3],
    tabs = KEYS[4], guests = KEYS[5]}
  local s = load_session(k.session)
  if s and not s.closed_reason and s.last_heartbeat_at < cutoff then
    close_session(k, session_id, s, s.last_heartbeat_at, 'timeout', now)
    closed = closed + 1
  elseif not s or s.closed_reason then  -- an index entry without an open session
    redis.call('ZREM', k.active, session_id)
    redis.call('ZREM', k.guests, session_id)
  end
end
-- Viewers heard from only by legacy pings leave presence once stale.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. cutoff)
return closed
