-- ack: after the flusher's commit, move the webinar's watermark forward to what the
-- commit covered (never back: replicas may commit out of order), mark the sessions whose
-- rows it inserted as 'stored' (their details are not read again), and shrink each closed
-- session it wrote to a tombstone that keeps its id from being reused (R-PG-4, R-SEM-7).
-- A closed session never changes again, so no version needs comparing. The retiring
-- comes first: it frees memory, and on a Redis at maxmemory a script whose first write
-- frees memory may go on to write the rest.
-- KEYS[1] flushed, KEYS[2] closed, then per closed session: session, extras, log, active
-- log; then one session key per newly stored session
local watermark = tonumber(ARGV[1])  -- ms: every change before it is now in Postgres
local ttl_s = tonumber(ARGV[2])      -- tombstone TTL, s
-- ARGV[3..]: the closed session ids of the first KEYS quadruples

local closed = #ARGV - 2
for i = 1, closed do
  local k = 4 * i - 1
  redis.call('HDEL', KEYS[k], unpack(RETIRED_FIELDS))  -- watchtime/fields.py
  redis.call('DEL', KEYS[k + 1], KEYS[k + 2], KEYS[k + 3])
  redis.call('EXPIRE', KEYS[k], ttl_s)
  redis.call('ZREM', KEYS[2], ARGV[i + 2])
end
if watermark > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], watermark)
end
for k = 3 + 4 * closed, #KEYS do
  if redis.call('HEXISTS', KEYS[k], 'version') == 1 then redis.call('HSET', KEYS[k], 'stored', 1) end
end
return closed
