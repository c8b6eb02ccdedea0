--[[
  acquireLease: take a free lease or extend one already held by the caller.

  KEYS[1] lease key
  ARGV[1] holder token        ARGV[2] ttl in ms
  Returns: 1 held by the caller now (taken or extended); 0 held by someone else, nothing changed.
]]
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
