-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval logs it writes belong to one version. Details go to Postgres once, with the
-- row's insert: a session marked 'stored' (ack.lua) has its row, so they are not read.
-- Of each interval log only the bytes past 'logged' (those not yet in Postgres) are read:
-- the row's intervals are a union, so a session's flush costs what changed, not its age.
-- KEYS: per session: session, extras, log, active log
-- HOT_FIELDS, DETAIL_FIELDS: watchtime/fields.py
local at = {}
for i, field in ipairs(HOT_FIELDS) do at[field] = i end

local out = {}
for i = 1, #KEYS, 4 do
  local fields = redis.call('HMGET', KEYS[i], unpack(HOT_FIELDS))
  local extras = {}
  if not fields[at.stored] then extras = redis.call('HMGET', KEYS[i + 1], unpack(DETAIL_FIELDS)) end
  out[#out + 1] = {fields, extras,
    redis.call('GETRANGE', KEYS[i + 2], tonumber(fields[at.logged]) or 0, -1),
    redis.call('GETRANGE', KEYS[i + 3], tonumber(fields[at.active_logged]) or 0, -1)}
end
return out
