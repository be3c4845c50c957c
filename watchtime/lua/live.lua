-- Live counts: viewers and sessions heard from within the stale limit (R-ARCH-1: no SQL).
-- A guest is one session and one viewer, found in `guests` alone (lib.lua index).
-- KEYS[1] meta, KEYS[2] presence, KEYS[3] active, KEYS[4] guests
local now = now_ms(ARGV[1])         -- ms; '' = Redis TIME
local stale_ms = tonumber(ARGV[2])  -- SESSION_STALE_AFTER_SECONDS in ms

if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_webinar'} end
local since = '(' .. (now - stale_ms)
local guests = redis.call('ZCOUNT', KEYS[4], since, '+inf')
return {'ok', redis.call('ZCOUNT', KEYS[2], since, '+inf') + guests,
  redis.call('ZCOUNT', KEYS[3], since, '+inf') + guests}
