-- ack: after the flusher's commit, move the webinar's watermark forward to what the
-- commit covered (never back: replicas may commit out of order), mark the sessions whose
-- rows it wrote as 'stored' (their details are not read again), trim from their interval
-- logs the runs now in Postgres, counting them in 'logged' (lib.lua log_credit), and
-- shrink each closed session it wrote to a tombstone that keeps its id from being reused
-- (R-PG-4, R-SEM-7). A closed session never changes again, so no version needs comparing;
-- a log only grows at its end, so its bytes are counted from its start, and a replica's
-- older ack trims nothing more. The retiring comes first: it frees memory, and on a
-- Redis at maxmemory a script whose first write frees memory may go on to write the rest.
-- KEYS[1] flushed, KEYS[2] closed, then per closed session: session, extras, log, active
-- log; then per session to mark: session, log, active log
local watermark = tonumber(ARGV[1])  -- ms: every change before it is now in Postgres
local ttl_s = tonumber(ARGV[2])      -- tombstone TTL, s
local closed = tonumber(ARGV[3])     -- closed sessions, whose ids are ARGV[4 ..]
-- then per session to mark: the bytes of its log and of its active log now in Postgres

-- Drops from a log, which holds its bytes from `logged` on, those before `written`.
local function trim(log_key, logged, written)
  if written <= logged then return logged end
  local rest = redis.call('GETRANGE', log_key, written - logged, -1)
  if rest == '' then redis.call('DEL', log_key) else redis.call('SET', log_key, rest) end
  return written
end

for i = 1, closed do
  local k = 4 * i - 1
  redis.call('HDEL', KEYS[k], unpack(RETIRED_FIELDS))  -- watchtime/fields.py
  redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3])
  redis.call('EXPIRE', KEYS[k], ttl_s)
  redis.call('ZREM', KEYS[2], ARGV[i + 3])
end
if watermark > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], watermark)
end
local a = 4 + closed  -- the ARGV pair of the session at KEYS[k]
for k = 3 + 4 * closed, #KEYS, 3 do
  local marks = redis.call('HMGET', KEYS[k], 'user_id', 'logged', 'active_logged')
  if marks[1] then
    redis.call('HSET', KEYS[k], 'stored', 1,
      'logged', trim(KEYS[k + 1], tonumber(marks[2]) or 0, tonumber(ARGV[a])),
      'active_logged', trim(KEYS[k + 2], tonumber(marks[3]) or 0, tonumber(ARGV[a + 1])))
  end
  a = a + 2
end
return closed
