-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval logs it writes belong to one version. Details go to Postgres once, with the
-- row's insert: a session marked 'stored' (ack.lua) has its row, so they are not read.
-- The logs hold only the runs not yet in Postgres (ack.lua trims the rest); the row's
-- intervals are a union with them, so a session's flush costs what changed, not its age.
-- The hash is read whole: it holds little beyond what the flusher needs (its packed
-- `state` is unpacked by watchtime/fields.py), and a whole read beats naming each field.
-- KEYS: per session: session, extras, log, active log
-- DETAIL_FIELDS: watchtime/fields.py

local function is_stored(hash)  -- field, value, field, value, ...
  for i = 1, #hash, 2 do
    if hash[i] == 'stored' then return true end
  end
  return false
end

local out = {}
for i = 1, #KEYS, 4 do
  local hash = redis.call('HGETALL', KEYS[i])
  local extras = {}
  if not is_stored(hash) then extras = redis.call('HMGET', KEYS[i + 1], unpack(DETAIL_FIELDS)) end
  out[#out + 1] = {hash, extras, redis.call('GET', KEYS[i + 2]) or '',
    redis.call('GET', KEYS[i + 3]) or ''}
end
return out
