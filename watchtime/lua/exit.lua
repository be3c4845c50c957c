-- exit: credit the final interval as a ping would, then close with reason 'exit'.
-- Exit is idempotent: a closed session answers 'closed', which the gateway accepts (R-SEM-4).
-- KEYS: see session_keyset()
local now = now_ms(ARGV[1])       -- ms; '' = Redis TIME
local session_id = ARGV[2]
local user_id = ARGV[3]           -- '' for a guest
local cap_ms = tonumber(ARGV[4])  -- Δt cap, ms
local max_intervals = tonumber(ARGV[5])

local k = session_keyset()
local known, dormant = webinar_state(k.meta)
local session = load_session(k.session)
if not session then return {known and 'no_session' or 'no_webinar'} end
local refused = refusal(session, user_id)
if refused then return refused end

local credited = credit(k, session, now, cap_ms, max_intervals)
close_session(k, session_id, session, session.last_heartbeat_at, 'exit', now)
return {'ok', credited, session.watched_ms, 0, dormant}
