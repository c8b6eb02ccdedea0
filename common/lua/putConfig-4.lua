--[[
  putConfig: store the next version of one configuration item, atomically: the current item, its bounded
  history, the global version and a change-stream entry (trimmed here, MAXLEN ~), all in the {<ns>:cfg} slot.
  Versions keep counting after a removal (the history outlives the item), so a version is never reused.

  KEYS[1] the kind's items hash (id -> JSON item)     KEYS[2] the item's history ZSET (JSON item by version)
  KEYS[3] the global version counter                  KEYS[4] the change stream
  ARGV[1] kind   ARGV[2] id
  ARGV[3] the item body: a JSON object '{"kind":..,"id":..,["by":..,]"value":..}'; the script puts
          '"version":N,"updatedAt":T' first (T = the server's TIME in ms), which readers and this script rely on
  ARGV[4] expected current version ('' = no check; '0' = the item must not exist)
  ARGV[5] history entries kept (>= 1)   ARGV[6] change stream MAXLEN (approximate)   ARGV[7] by ('' = unknown)
  Returns:
    {version, globalVersion, updatedAt}   stored
    {-5, currentVersion}                  VERSION_CONFLICT: ARGV[4] differs from the current version; nothing written
]]
local last = 0
local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if top[2] then
  last = tonumber(top[2])
end
local current = 0
local stored = redis.call('HGET', KEYS[1], ARGV[2])
if stored then
  current = tonumber(string.match(stored, '^{"version":(%d+)')) or last
  if current > last then
    last = current
  end
end
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= current then
  return { -5, current }
end

local version = last + 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local item = '{"version":' .. string.format('%d', version) .. ',"updatedAt":' .. string.format('%d', now) .. ',' .. string.sub(ARGV[3], 2)

redis.call('HSET', KEYS[1], ARGV[2], item)
redis.call('ZADD', KEYS[2], version, item)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
local g = redis.call('INCR', KEYS[3])
if ARGV[7] ~= '' then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'kind', ARGV[1], 'id', ARGV[2], 'version', version, 'global', g, 'at', now, 'by', ARGV[7])
else
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'kind', ARGV[1], 'id', ARGV[2], 'version', version, 'global', g, 'at', now)
end
return { version, g, now }
