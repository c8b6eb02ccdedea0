--[[
  fireTimers: for actors whose schedule_time has passed, append a timer envelope to the partition inbox so
  the timer turn runs in order with the actor's other messages; re-arm the actor further out so a lost
  timer turn fires again (the timer turn's commit writes the real next schedule_time).

  KEYS[1] due index (ZSET, member "type/id")     KEYS[2] inbox stream
  ARGV[1] now (ms)   ARGV[2] at most this many actors   ARGV[3] re-arm delay (ms)   ARGV[4] envelope version
  Returns: the number of timer envelopes appended.
]]
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local fired = 0
for i = 1, #due, 2 do
  local member = due[i]
  local slash = string.find(member, '/', 1, true)
  if slash then
    local envelope = cmsgpack.pack({
      v = tonumber(ARGV[4]),
      id = 'timer:' .. member .. ':' .. due[i + 1],
      pattern = 'actor:' .. string.sub(member, 1, slash - 1),
      key = member,
      data = { id = string.sub(member, slash + 1), timer = now },
      ts = now,
    })
    redis.call('XADD', KEYS[2], '*', 'e', envelope)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), member)
    fired = fired + 1
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return fired
