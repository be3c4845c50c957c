-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval log it writes belong to one version.
-- KEYS: per session: session, extras, log
local out = {}
for i = 1, #KEYS, 3 do
  out[#out + 1] = {redis.call('HGETALL', KEYS[i]), redis.call('HGETALL', KEYS[i + 1]),
    redis.call('GET', KEYS[i + 2]) or ''}
end
return out
