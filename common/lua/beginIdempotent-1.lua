--[[
  beginIdempotent: claim an idempotency key, or report who holds it, in one step.

  KEYS[1] the key's record: hash with s (state: 'p' in progress, 'd' done), f (payload fingerprint),
          r (encoded result, once done); it expires PX after the TTL.
  ARGV[1] payload fingerprint
  ARGV[2] TTL (ms) of the in-progress claim
  Returns: {1} claimed, the caller runs the operation;
           {2, fingerprint} another call holds the key and is still running;
           {3, fingerprint, result} the key is done with that result.
]]
local rec = redis.call('HMGET', KEYS[1], 's', 'f', 'r')
if not rec[1] then
  redis.call('HSET', KEYS[1], 's', 'p', 'f', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
if rec[1] == 'd' then
  return {3, rec[2], rec[3]}
end
return {2, rec[2]}
