--[[
  pruneSubscriptions: drop expired entries from a user's subscription index, each only if it still holds the
  value the reader judged expired, so a task that re-subscribed meanwhile (a new `until`) keeps its entry.

  KEYS[1] the user's subscription index (hash: task id -> JSON { events, until })
  ARGV    pairs of (task id, the value read)
  Returns the number of entries removed.
]]
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    removed = removed + 1
  end
end
return removed
