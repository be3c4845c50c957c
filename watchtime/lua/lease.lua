-- lease: take, renew (ttl > 0) or release (ttl = 0) a per-webinar job lease, so replicas
-- of the flusher or sweeper share webinars instead of repeating each other's work.
-- Correctness never rests on it (versions and re-checks do); a dead holder's lease expires.
-- KEYS[1] lease key
local owner = ARGV[1]
local ttl_ms = tonumber(ARGV[2])  -- ms; 0 releases

local holder = redis.call('GET', KEYS[1])
if holder and holder ~= owner then return 0 end
if ttl_ms == 0 then
  if holder then redis.call('DEL', KEYS[1]) end
  return 1
end
redis.call('SET', KEYS[1], owner, 'PX', ttl_ms)
return 1
