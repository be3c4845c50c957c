-- pending: what the flusher owes Postgres for one webinar (R-PG-4). An open session's
-- score in its index (lib.lua index: `active`, or `guests` for a guest's) is its last
-- change, so the open sessions to write are those scored at or after the watermark, which
-- says every change before it is in Postgres; closed sessions wait in their own set until
-- written. Nothing here is a per-ping write.
-- KEYS[1] active, KEYS[2] guests, KEYS[3] closed, KEYS[4] flushed (the watermark, ms)
local now = now_ms(ARGV[1])      -- ms; '' = Redis TIME
local limit = tonumber(ARGV[2])  -- sessions to name at most (closed first); 0 = counts only
-- Returns {watermark, next watermark once these are written, sessions pending, oldest
-- pending change (ms, or -1), open sessions, now (ms), {open ids}, {closed ids}}.
local INDEXES, CLOSED, FLUSHED = {KEYS[1], KEYS[2]}, KEYS[3], KEYS[4]

local function total(command, ...)  -- a count over both indexes
  local sum = 0
  for _, key in ipairs(INDEXES) do sum = sum + redis.call(command, key, ...) end
  return sum
end

-- A clock behind the newest score (tests' explicit times, or a failover to a node whose
-- clock lags) counts as that score, so the watermark never passes the sessions being
-- changed now. (After such a failover a session last written before the watermark can
-- score below it until the clock catches up: it is written at its next change after.)
for _, key in ipairs(INDEXES) do
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2]
  if newest then now = math.max(now, tonumber(newest)) end
end

local since = tonumber(redis.call('GET', FLUSHED) or '0')
local changed = total('ZCOUNT', since, '+inf')
local closed_count = redis.call('ZCARD', CLOSED)

-- Up to `room` open sessions of each index changed at or after the watermark, as one
-- WITHSCORES list (id, score, ...) in score order: the two lists merged.
local function changed_since(room)
  local a = redis.call('ZRANGEBYSCORE', INDEXES[1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, room)
  local b = redis.call('ZRANGEBYSCORE', INDEXES[2], since, '+inf', 'WITHSCORES', 'LIMIT', 0, room)
  if #b == 0 then return a end
  if #a == 0 then return b end
  local out, i, j = {}, 1, 1
  while i <= #a or j <= #b do
    if j > #b or (i <= #a and tonumber(a[i + 1]) <= tonumber(b[j + 1])) then
      out[#out + 1], out[#out + 2], i = a[i], a[i + 1], i + 2
    else
      out[#out + 1], out[#out + 2], j = b[j], b[j + 1], j + 2
    end
  end
  return out
end

-- The oldest change still owed: for open sessions the watermark (only a session's last
-- change is kept, and the first one owed came at or after it; with no watermark yet, the
-- oldest last change), the time of closing for closed ones.
local function oldest()
  local first = redis.call('ZRANGE', CLOSED, 0, 0, 'WITHSCORES')[2]
  local candidates = {}
  if first then candidates[#candidates + 1] = tonumber(first) end
  if changed > 0 then
    candidates[#candidates + 1] = since > 0 and since or tonumber(changed_since(1)[2])
  end
  if #candidates == 0 then return -1 end
  return math.min(unpack(candidates))
end

-- Open sessions changed at or after the watermark, oldest change first, up to limit; the
-- sessions that share the last one's score come along, so the next watermark can pass it.
local function changed_open(room)
  if room <= 0 or changed == 0 then return {}, since end
  local found = changed_since(room)
  local ids, taken = {}, {}
  for i = 1, math.min(#found, 2 * room), 2 do
    ids[#ids + 1] = found[i]
    taken[found[i]] = true
  end
  if #ids < room then return ids, math.max(since, now) end
  local last = tonumber(found[2 * room])
  for _, key in ipairs(INDEXES) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, last, last)) do
      if not taken[id] then ids[#ids + 1] = id end
    end
  end
  -- A change after this call scores now or later, so a watermark past now could skip
  -- one; at now itself, the sessions of this very ms are read again next time.
  if last < now then return ids, last + 1 end
  return ids, now
end

local closed_ids = {}
if limit > 0 then closed_ids = redis.call('ZRANGE', CLOSED, 0, limit - 1) end
local open_ids, next_watermark = changed_open(limit - #closed_ids)
return {since, next_watermark, changed + closed_count, oldest(), total('ZCARD'), now,
  open_ids, closed_ids}
