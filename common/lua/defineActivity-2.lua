--[[
  defineActivity: store an activity definition, bump its version and keep the definition in the activity's
  bounded history, atomically (both keys are in the activity's hash tag {<ns>:act:<id>}).
  KEYS[1] the definition hash (status, ver, d)    KEYS[2] the history ZSET (score = version, member = JSON)
  ARGV[1] status    ARGV[2] definition JSON    ARGV[3] time (ms)    ARGV[4] versions kept in the history
  Returns: the new version.
]]
local ver = redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'd', ARGV[2])
redis.call('ZADD', KEYS[2], ver, cjson.encode({ version = ver, at = tonumber(ARGV[3]), d = ARGV[2] }))
local kept = tonumber(ARGV[4])
local n = redis.call('ZCARD', KEYS[2])
if n > kept then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - kept - 1)
end
return ver
