-- track (enter): create the session if absent; a repeat changes nothing (R-SEM-1, R-SEM-7).
-- KEYS: see session_keyset()
local now = now_ms(ARGV[1])       -- ms; '' = Redis TIME
local session_id = ARGV[2]
local user_id = ARGV[3]           -- '' for a guest
local visible = ARGV[4]           -- '1' | '0'
local active = ARGV[5]            -- '1' | '0'
local extras = ARGV[6]            -- JSON object of details, written once

local k = session_keyset()
local known, dormant = webinar_state(k.meta)
local session = load_session(k.session)
if session then return refusal(session, user_id) or {'exists'} end
if not known then return {'no_webinar'} end
open_session(k, session_id, user_id, now, visible, active, 0, extras)
return {'created', 0, 0, 0, dormant}
