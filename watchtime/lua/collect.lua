-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval log it writes belong to one version. Details go to Postgres once, with the
-- row's insert: a session marked 'stored' (ack.lua) has its row, so they are not read.
-- KEYS: per session: session, extras, log
local out = {}
for i = 1, #KEYS, 3 do
  local extras = {}
  if redis.call('HEXISTS', KEYS[i], 'stored') == 0 then
    extras = redis.call('HGETALL', KEYS[i + 1])
  end
  out[#out + 1] = {redis.call('HGETALL', KEYS[i]), extras, redis.call('GET', KEYS[i + 2]) or ''}
end
return out
