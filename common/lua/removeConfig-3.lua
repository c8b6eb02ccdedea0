--[[
  removeConfig: remove one configuration item, atomically with a change-stream entry (version 0, trimmed here,
  MAXLEN ~) and a bump of the global version. The item's history stays, so its versions keep counting if it is
  stored again and `at` still answers for its past versions.

  KEYS[1] the kind's items hash (id -> JSON item)   KEYS[2] the global version counter   KEYS[3] the change stream
  ARGV[1] kind   ARGV[2] id
  ARGV[3] expected current version ('' = no check)
  ARGV[4] change stream MAXLEN (approximate)   ARGV[5] by ('' = unknown)
  Returns:
    {removedVersion, globalVersion}   removed (the version it had)
    {0, 0}                            there was no such item; nothing written
    {-5, currentVersion}              VERSION_CONFLICT: ARGV[3] differs from the current version; nothing written
]]
local current = 0
local stored = redis.call('HGET', KEYS[1], ARGV[2])
if stored then
  current = tonumber(string.match(stored, '^{"version":(%d+)')) or 0
end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= current then
  return { -5, current }
end
if not stored then
  return { 0, 0 }
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HDEL', KEYS[1], ARGV[2])
local g = redis.call('INCR', KEYS[2])
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'kind', ARGV[1], 'id', ARGV[2], 'version', 0, 'global', g, 'at', now, 'by', ARGV[5])
else
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'kind', ARGV[1], 'id', ARGV[2], 'version', 0, 'global', g, 'at', now)
end
return { current, g }
