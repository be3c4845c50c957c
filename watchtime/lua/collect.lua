-- collect: an atomic snapshot of sessions for the flusher, so the hash, its details and
-- its interval logs it writes belong to one version. Details go to Postgres once, with the
-- row's insert: a session marked 'stored' (ack.lua) has its row, so they are not read.
-- The logs hold only the runs not yet in Postgres (ack.lua trims the rest); the row's
-- intervals are a union with them, so a session's flush costs what changed, not its age.
-- KEYS: per session: session, extras, log, active log
-- HOT_FIELDS, DETAIL_FIELDS: watchtime/fields.py

-- A session's HOT_FIELDS as text, its packed state unpacked here (cheaper than in the
-- flusher's Python), false where absent; and whether its row is stored. A tombstone
-- reads as a vanished session (no version).
local function hot(session_key)
  local s = load_session(session_key) or {run = {}, active_run = {}}
  local more = redis.call('HMGET', session_key, 'entered_at', 'exited_at', 'stored', 'logged',
    'active_logged')
  local v = {user_id = s.user_id, closed_reason = s.closed_reason, entered_at = more[1],
    exited_at = more[2], stored = more[3], logged = more[4], active_logged = more[5],
    last_heartbeat_at = s.last_heartbeat_at, watched_ms = s.watched_ms, visible = s.visible,
    active = s.active, ping_count = s.ping_count, version = s.version,
    run_from = s.run.from, run_to = s.run.to,
    active_run_from = s.active_run.from, active_run_to = s.active_run.to}
  local out = {}
  for i, name in ipairs(HOT_FIELDS) do out[i] = v[name] and tostring(v[name]) or false end
  return out, v.stored
end

local out = {}
for i = 1, #KEYS, 4 do
  local fields, stored = hot(KEYS[i])
  local extras = {}
  if not stored then extras = redis.call('HMGET', KEYS[i + 1], unpack(DETAIL_FIELDS)) end
  out[#out + 1] = {fields, extras, redis.call('GET', KEYS[i + 2]) or '',
    redis.call('GET', KEYS[i + 3]) or ''}
end
return out
