-- rest: a webinar with no open session, nothing left to write and no one present leaves
-- the working set of flusher and sweeper (R-EXT-1). The caller has already taken it out
-- of the registry. 'dormant' is set whatever this finds, so that a crash of the caller
-- before it puts back a webinar with work leaves the mark, and the next session created
-- or closed puts it back (lib.lua webinar_state); the caller wakes it when this answers 0.
-- KEYS[1] meta, KEYS[2] active, KEYS[3] closed, KEYS[4] presence, KEYS[5] guests
local now = now_ms(ARGV[1])         -- ms; '' = Redis TIME
local stale_ms = tonumber(ARGV[2])  -- SESSION_STALE_AFTER_SECONDS in ms

if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'dormant', 1) end
-- Viewers heard from only by legacy pings leave presence once stale, as in sweep.lua.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. (now - stale_ms))
for i = 2, 5 do
  if redis.call('ZCARD', KEYS[i]) > 0 then return 0 end
end
return 1
