--[[
  completeIdempotent: record the result of a claimed key, only if the claim is still the caller's.

  KEYS[1] the key's record (see beginIdempotent-1.lua)
  ARGV[1] payload fingerprint of the claim
  ARGV[2] encoded result
  ARGV[3] TTL (ms) of the done record, counted from now
  Returns: 1 recorded; 0 the claim expired or belongs to another payload, nothing changed.
]]
local rec = redis.call('HMGET', KEYS[1], 's', 'f')
if rec[1] ~= 'p' or rec[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 's', 'd', 'r', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
