-- Legacy ping without a session: count the viewer as present, touch no session (R-SEM-3).
-- KEYS[1] meta, KEYS[2] presence
local now = now_ms(ARGV[1])  -- ms; '' = Redis TIME
local viewer = ARGV[2]       -- user:<id>

local known, dormant = webinar_state(KEYS[1])
if not known then return {'no_webinar'} end
redis.call('ZADD', KEYS[2], now, viewer)
return {'ok', 0, 0, 0, dormant}
