--[[
  abandonIdempotent: give up an in-progress claim (the operation failed) so a retry can run.

  KEYS[1] the key's record (see beginIdempotent-1.lua)
  ARGV[1] payload fingerprint of the claim
  Returns: 1 released; 0 not an in-progress claim of that payload, nothing changed.
]]
local rec = redis.call('HMGET', KEYS[1], 's', 'f')
if rec[1] == 'p' and rec[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
