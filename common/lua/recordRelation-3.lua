--[[
  recordRelation: record the sharer -> invitee relation of one activity, at most one per invitee, atomically
  and idempotently: a seen idempotency key returns its first result; a rejection is stored under the key too.

  KEYS[1] definition hash (status)   KEYS[2] idempotency record ('G|<relation json>' or 'R|<code>')
  KEYS[3] the invitee's relation in the activity (relation json, kept without expiry)
  ARGV[1] relation record (JSON)   ARGV[2] first rejection of the pure checks ('' = none)   ARGV[3] idempotency TTL (s)
  ARGV[4] definition version the pure checks were computed on
  Returns:
    {1, relationJson, replayed}   recorded (replayed = 1: the first result of this key)
    {0, code, replayed}           rejected: ACTIVITY_PAUSED, the pure check's code, or ALREADY_REFERRED
    {-1}                          STALE: the definition changed since the checks; nothing written, decide again
    {-2}                          NOT_FOUND: the activity is not defined; nothing written
]]
local seen = redis.call('GET', KEYS[2])
if seen then
  if string.sub(seen, 1, 1) == 'G' then
    return { 1, string.sub(seen, 3), 1 }
  end
  return { 0, string.sub(seen, 3), 1 }
end
local def = redis.call('HMGET', KEYS[1], 'status', 'ver')
local status = def[1]
if not status then
  return { -2 }
end
if def[2] ~= ARGV[4] then
  return { -1 }
end
local code = ''
if status ~= 'ACTIVE' then
  code = 'ACTIVITY_PAUSED'
elseif ARGV[2] ~= '' then
  code = ARGV[2]
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  code = 'ALREADY_REFERRED'
end
if code ~= '' then
  redis.call('SET', KEYS[2], 'R|' .. code, 'EX', ARGV[3])
  return { 0, code, 0 }
end
redis.call('SET', KEYS[3], ARGV[1])
redis.call('SET', KEYS[2], 'G|' .. ARGV[1], 'EX', ARGV[3])
return { 1, ARGV[1], 0 }
