-- ack: after the flusher's commit, clear each dirty mark whose version was written (a
-- session changed since keeps its mark), and shrink a closed session that is now safe in
-- Postgres to a tombstone that keeps its id from being reused (R-PG-4, R-SEM-7).
-- KEYS[1] dirty, then per session: session, extras, log
-- ARGV[1] tombstone TTL (s), then per session: session_id, version written (0: none found)
local dirty_key = KEYS[1]
local ttl_s = tonumber(ARGV[1])

local function retire(session_key, extras_key, log_key)
  redis.call('HDEL', session_key, 'entered_at', 'last_heartbeat_at', 'watched_ms', 'visible',
    'active', 'exited_at', 'ping_count', 'version', 'last_request')
  redis.call('DEL', extras_key, log_key)
  redis.call('EXPIRE', session_key, ttl_s)
end

local cleared = 0
for i = 2, #ARGV, 2 do
  local session_id, version = ARGV[i], tonumber(ARGV[i + 1])
  local k = 2 + (i - 2) / 2 * 3
  local s = redis.call('HMGET', KEYS[k], 'version', 'closed_reason')
  if (tonumber(s[1]) or 0) == version then
    redis.call('ZREM', dirty_key, session_id)
    cleared = cleared + 1
    if s[2] and version > 0 then retire(KEYS[k], KEYS[k + 1], KEYS[k + 2]) end
  end
end
return cleared
