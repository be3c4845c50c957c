-- atomically: commands run together, as MULTI … EXEC runs them, for a client that cannot
-- send a transaction to a cluster's node (redis-py's; watchtime/sessions.py Direct).
-- KEYS: each command's one key, in order.
-- ARGV: per command, its name and how many arguments follow its key, then those.
local replies, a = {}, 1
for i = 1, #KEYS do
  local name, count = ARGV[a], tonumber(ARGV[a + 1])
  replies[i] = redis.call(name, KEYS[i], unpack(ARGV, a + 2, a + 1 + count))
  a = a + 2 + count
end
return replies
