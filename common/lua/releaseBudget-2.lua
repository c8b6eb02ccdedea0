--[[
  releaseBudget: give back the unit a key reserved in a bucket when its application did not end in a grant
  (rejected for another reason, or a replay). At most once per key: the record turns from held to released.

  KEYS[1] bucket hash (used, d:<day>)     KEYS[2] this key's reservation record ('R|<day field>' while held)
  ARGV[1] record TTL (s)
  Returns: 1 released; 0 nothing held by this key, nothing changed.
]]
local held = redis.call('GET', KEYS[2])
if not held or string.sub(held, 1, 1) ~= 'R' then
  return 0
end
local day = string.sub(held, 3)
redis.call('HINCRBY', KEYS[1], 'used', -1)
redis.call('HINCRBY', KEYS[1], day, -1)
redis.call('SET', KEYS[2], 'X|' .. day, 'EX', ARGV[1])
return 1
