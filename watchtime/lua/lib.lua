-- Helpers prepended to every session script by watchtime/scripts.py.
-- Times are integer milliseconds of the Redis server clock (R-ARCH-2).
-- track, ping, exit and presence reply {status, credited_ms, watched_ms, wait_ms, dormant},
-- trailing zeros left out (watchtime/sessions.py Outcome).

-- Tests pass an explicit time; production passes '' and the script reads TIME.
local function now_ms(explicit)
  if explicit ~= '' then return tonumber(explicit) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function viewer_of(user_id, session_id)
  if user_id ~= '' then return USER_PREFIX .. user_id end
  return GUEST_PREFIX .. session_id
end

-- A session's `state` field, the fields every change writes packed into one
-- (STATE_FORMAT, in the order of watchtime/fields.py STATE): one HSET field a ping.
local function pack_state(s)
  return struct.pack(STATE_FORMAT, s.last_heartbeat_at, s.watched_ms, s.run.from, s.run.to,
    s.active_run.from, s.active_run.to, s.ping_count, s.version, s.visible, s.active)
end

-- run and active_run are the current, unbroken runs of watched and active time, [from, to)
-- in ms (log_credit); `trimmed` names the hash field counting their log's bytes in Postgres,
-- `ends` the one counting every byte ever appended to it: the log is empty when they agree.
local function with_runs(s, run_from, run_to, active_from, active_to)
  s.run = {from = run_from, to = run_to, trimmed = 'logged', ends = 'log_end'}
  s.active_run = {from = active_from, to = active_to, trimmed = 'active_logged',
    ends = 'active_log_end'}
  return s
end

local function unpack_state(s, packed)
  local run_from, run_to, active_from, active_to
  s.last_heartbeat_at, s.watched_ms, run_from, run_to, active_from, active_to, s.ping_count,
    s.version, s.visible, s.active = struct.unpack(STATE_FORMAT, packed)
  return with_runs(s, run_from, run_to, active_from, active_to)
end

-- A session written by an older release keeps these fields one by one, and maybe no runs
-- (read as empty runs at its heartbeat); its next change writes `state`, which wins.
local function unpack_fields(s, session_key)
  local v = redis.call('HMGET', session_key, 'last_heartbeat_at', 'watched_ms', 'ping_count',
    'version', 'visible', 'active', 'run_from', 'run_to', 'active_run_from', 'active_run_to')
  local heartbeat = tonumber(v[1])
  s.last_heartbeat_at, s.watched_ms = heartbeat, tonumber(v[2])
  s.ping_count, s.version, s.visible, s.active = tonumber(v[3]), tonumber(v[4]), v[5], v[6]
  return with_runs(s, tonumber(v[7]) or heartbeat, tonumber(v[8]) or heartbeat,
    tonumber(v[9]) or heartbeat, tonumber(v[10]) or heartbeat)
end

-- The fields every script decides on, in one read; nil when the session was never seen.
-- A closed session is only refused (refusal, sweep.lua), so the numbers of one without
-- `state` (a tombstone, or closed by an older release) are not read.
local function load_session(session_key)
  local v = redis.call('HMGET', session_key, 'user_id', 'closed_reason', 'last_request', 'state')
  if not v[1] then return nil end
  local s = {user_id = v[1], closed_reason = v[2], last_request = v[3]}
  if v[4] then return unpack_state(s, v[4]) end
  if s.closed_reason then return s end
  return unpack_fields(s, session_key)
end

-- What the scripts need of the webinar: whether it is known (its schedule is mirrored),
-- and whether it left the flusher's and sweeper's working set (rest.lua), in which case
-- the caller puts it back after a change (watchtime/sessions.py SessionStore.wake).
local function webinar_state(meta_key)
  local v = redis.call('HMGET', meta_key, 'start', 'dormant')
  return v[1] ~= false, v[2] and 1 or 0
end

-- The refusals common to track, ping and exit on an existing session; nil means go on.
local function refusal(session, user_id)
  if session.user_id ~= user_id then return {'other_user'} end
  if session.closed_reason then return {'closed'} end
  return nil
end

-- Where an open session is found, scored by its last heartbeat, which is also its last
-- change (the flusher writes open sessions changed at or after its watermark, pending.lua,
-- so no write of a ping has to mark it) and its liveness (sweep.lua, live.lua): a
-- signed-in viewer's in `active`, the viewer also in `presence` (one person, maybe in
-- several tabs, scored by the time last heard from); a guest's in `guests` alone, which
-- is also the guest's presence (one session, one person): one sorted-set write a ping.
local function index(k, session_id, user_id, heartbeat, now)
  if user_id ~= '' then
    redis.call('ZADD', k.active, heartbeat, session_id)
    redis.call('ZADD', k.presence, now, viewer_of(user_id, session_id))
  elseif redis.call('ZADD', k.guests, heartbeat, session_id) == 1 then
    -- New in `guests`: a release before it indexed guests as users are (or it was created).
    redis.call('ZREM', k.active, session_id)
    redis.call('ZREM', k.presence, viewer_of(user_id, session_id))
  end
end

-- Creates an open session. extras_json is a JSON object of details written once (one
-- argument instead of many: it is sent with every ping and decoded only here).
local function open_session(k, session_id, user_id, now, visible, active, pings, extras_json)
  local s = with_runs({last_heartbeat_at = now, watched_ms = 0, ping_count = pings,
    version = 1, visible = visible, active = active}, now, now, now, now)
  redis.call('HSET', k.session, 'user_id', user_id, 'entered_at', now, 'state', pack_state(s),
    s.run.ends, 0, s.active_run.ends, 0)
  local fields = {}
  for field, value in pairs(cjson.decode(extras_json)) do
    fields[#fields + 1] = field
    fields[#fields + 1] = value
  end
  if #fields > 0 then redis.call('HSET', k.extras, unpack(fields)) end
  index(k, session_id, user_id, now, now)
  if user_id ~= '' then redis.call('HINCRBY', k.tabs, viewer_of(user_id, session_id), 1) end
end

-- Credits [from_ms, to_ms) to a run and its log. A session's credited time is its log
-- (closed runs, big-endian int64 pairs) plus its current run, kept in the session hash: a
-- credit that starts where the run ends extends it, so an unbroken watch stays one
-- interval and costs no write to the log. A gap closes the run into the log and starts a
-- new one; past max_intervals the gap is merged instead. The log in Redis holds only the
-- runs not yet in Postgres: the session hash's run.trimmed field counts the bytes written
-- and trimmed (ack.lua), read here only, where a gap makes the cap matter, and run.ends
-- the bytes appended, so that the flusher reads no log it knows to be empty.
-- Returns the ms added to the intervals, which keeps watched_ms equal to their total.
local function log_credit(session_key, log_key, run, from_ms, to_ms, max_intervals)
  if run.to == from_ms or run.from == run.to then
    if run.from == run.to then run.from = from_ms end
    run.to = to_ms
    return to_ms - from_ms
  end
  local trimmed = tonumber(redis.call('HGET', session_key, run.trimmed)) or 0
  if trimmed + redis.call('STRLEN', log_key) >= (max_intervals - 1) * 16 then
    local added = to_ms - run.to
    run.to = to_ms
    return added
  end
  local length = redis.call('APPEND', log_key, struct.pack('>i8>i8', run.from, run.to))
  redis.call('HSET', session_key, run.ends, trimmed + length)
  run.from, run.to = from_ms, to_ms
  return to_ms - from_ms
end

-- The part of a credited interval during which the client was also active: credited
-- when the session was active at the interval's start, the same rule as visibility
-- (R-EXT-5). The report intersects it with the watched intervals, so active <= watched
-- even where a full log merged a gap.
local function credit_active(k, session, from_ms, to_ms, max_intervals)
  if session.active == '1' then
    log_credit(k.session, k.active_log, session.active_run, from_ms, to_ms, max_intervals)
  end
end

-- Credits the interval since the last heartbeat iff the session was visible at its
-- start (R-SEM-2): clamp(now - last heartbeat, 0, cap), logged as an interval. The
-- heartbeat never moves back, so no second is ever credited twice. Moves the session's
-- watched time, runs and heartbeat, for the caller to write (pack_state); returns the
-- credited ms.
local function credit(k, s, now, cap_ms, max_intervals)
  local from = s.last_heartbeat_at
  local dt = math.min(math.max(now - from, 0), cap_ms)
  local credited = 0
  if s.visible == '1' and dt > 0 then
    credited = log_credit(k.session, k.log, s.run, from, from + dt, max_intervals)
    credit_active(k, s, from, from + dt, max_intervals)
  end
  s.watched_ms = s.watched_ms + credited
  s.last_heartbeat_at = math.max(from, now)
  return credited
end

-- Ends the viewer's presence with their last open tab. Only signed-in viewers, who may
-- open several, are counted in tabs: a guest is one session. (A guest's count there was
-- written by an older release; it goes with the session.)
local function leave(k, user_id, session_id)
  local viewer = viewer_of(user_id, session_id)
  if user_id == '' or redis.call('HINCRBY', k.tabs, viewer, -1) <= 0 then
    redis.call('HDEL', k.tabs, viewer)
    redis.call('ZREM', k.presence, viewer)
  end
end

-- Closes an open session at exited_at. It leaves its index (index) for the closed set
-- (score: when it closed, ms), where it waits for the flusher to write it and retire it
-- (ack.lua).
local function close_session(k, session_id, s, exited_at, reason, now)
  s.version = s.version + 1
  redis.call('HSET', k.session, 'exited_at', exited_at, 'closed_reason', reason,
    'state', pack_state(s))
  if s.user_id == '' then redis.call('ZREM', k.guests, session_id) end
  redis.call('ZREM', k.active, session_id)  -- a guest's too, if an older release put it there
  redis.call('ZADD', k.closed, now, session_id)
  leave(k, s.user_id, session_id)
end

-- KEYS layout shared by track, ping and exit (watchtime/keys.py session_keys): the
-- webinar's WEBINAR_KEYS, then SESSION_KEYS for one session, or one set per ping of a call
-- of ping.lua (the i-th after i sets): a call names the webinar's keys once.
local WEBINAR_KEYS, SESSION_KEYS = 6, 4
local function session_keyset(i)
  local b = WEBINAR_KEYS + (i or 0) * SESSION_KEYS
  return {meta = KEYS[1], active = KEYS[2], presence = KEYS[3], closed = KEYS[4],
    tabs = KEYS[5], guests = KEYS[6], session = KEYS[b + 1], extras = KEYS[b + 2],
    log = KEYS[b + 3], active_log = KEYS[b + 4]}
end
