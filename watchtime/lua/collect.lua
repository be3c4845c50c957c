-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval log it writes belong to one version. Details go to Postgres once, with the
-- row's insert: a session marked 'stored' (ack.lua) has its row, so they are not read.
-- KEYS: per session: session, extras, log, active log
local hot_count = tonumber(ARGV[1])  -- ARGV[2 .. hot_count + 1]: the session fields to read
-- ARGV[hot_count + 2 ..]: the detail fields (watchtime/sessions.py Hot and Details)
local hot, details, stored = {}, {}, nil
for i = 2, #ARGV do
  if i <= hot_count + 1 then hot[#hot + 1] = ARGV[i] else details[#details + 1] = ARGV[i] end
  if ARGV[i] == 'stored' then stored = i - 1 end
end

local out = {}
for i = 1, #KEYS, 4 do
  local fields = redis.call('HMGET', KEYS[i], unpack(hot))
  local extras = {}
  if not fields[stored] then extras = redis.call('HMGET', KEYS[i + 1], unpack(details)) end
  out[#out + 1] = {fields, extras, redis.call('GET', KEYS[i + 2]) or '',
    redis.call('GET', KEYS[i + 3]) or ''}
end
return out
