-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval logs it writes belong to one version. Details go to Postgres once, with the
-- row's insert: a session marked 'stored' (ack.lua) has its row, so they are not read.
-- The logs hold only the runs not yet in Postgres (ack.lua trims the rest); the row's
-- intervals are a union with them, so a session's flush costs what changed, not its age.
-- KEYS: per session: session, extras, log, active log
-- READ_FIELDS, DETAIL_FIELDS: watchtime/fields.py (the packed `state` is unpacked there)
local stored
for i, field in ipairs(READ_FIELDS) do
  if field == 'stored' then stored = i end
end

local out = {}
for i = 1, #KEYS, 4 do
  local fields = redis.call('HMGET', KEYS[i], unpack(READ_FIELDS))
  local extras = {}
  if not fields[stored] then extras = redis.call('HMGET', KEYS[i + 1], unpack(DETAIL_FIELDS)) end
  out[#out + 1] = {fields, extras, redis.call('GET', KEYS[i + 2]) or '',
    redis.call('GET', KEYS[i + 3]) or ''}
end
return out
