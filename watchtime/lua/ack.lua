-- ack: after the flusher's commit, move the webinar's watermark forward to what the
-- commit covered (never back: replicas may commit out of order), mark the sessions whose
-- rows it wrote as 'stored' (their details are not read again) with the bytes of their
-- interval logs now in Postgres (collect.lua reads only the rest), and shrink each closed
-- session it wrote to a tombstone that keeps its id from being reused (R-PG-4, R-SEM-7).
-- A closed session never changes again, so no version needs comparing; the marks only
-- grow, as the logs do. The retiring comes first: it frees memory, and on a Redis at
-- maxmemory a script whose first write frees memory may go on to write the rest.
-- KEYS[1] flushed, KEYS[2] closed, then per closed session: session, extras, log, active
-- log; then one session key per session to mark
local watermark = tonumber(ARGV[1])  -- ms: every change before it is now in Postgres
local ttl_s = tonumber(ARGV[2])      -- tombstone TTL, s
local closed = tonumber(ARGV[3])     -- closed sessions, whose ids are ARGV[4 ..]
-- then per session to mark: the bytes of its log and of its active log in Postgres

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
local first = 3 + 4 * closed
for k = first, #KEYS do
  local a = 4 + closed + 2 * (k - first)
  local marks = redis.call('HMGET', KEYS[k], 'version', 'logged', 'active_logged')
  if marks[1] then
    redis.call('HSET', KEYS[k], 'stored', 1,
      'logged', math.max(tonumber(ARGV[a]), tonumber(marks[2]) or 0),
      'active_logged', math.max(tonumber(ARGV[a + 1]), tonumber(marks[3]) or 0))
  end
end
return closed
