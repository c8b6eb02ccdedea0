--[[
  applyActivity: decide one activity application atomically and idempotently. A seen idempotency key
  returns its first result unchanged; otherwise the checks run in order (status, the audience/risk verdict
  computed on definition version ARGV[2], velocity, frequency caps, budget) and the first failure is the
  reason. A grant increments the counters, appends the ledger entry and stores the result under the key;
  a rejection is stored under the key too, so a retry never gets a new evaluation.

  Every key is in the activity's hash tag, so the decision and the idempotency record commit together.
  KEYS[1] definition hash (status, ver)    KEYS[2] idempotency record ('G|<grant json>' or 'R|<code>')
  KEYS[3] the user's counters hash (h:<hour>, d:<day>, w:<week>, t)    KEYS[4] the user's ledger list
  KEYS[5] inline budget hash (used, d:<day>); read only when ARGV[11] is 'inline'
  ARGV[1] 'apply' (writes) or 'consult' (reads only, ignores KEYS[2])
  ARGV[2] definition version the verdict was computed on
  ARGV[3] first rejection of the pure checks (audience, self-referral, same device/IP), '' for none
  ARGV[4] velocity limit per hour (0 = none)     ARGV[5] hour field
  ARGV[6] cap per day (0 = none)   ARGV[7] day field   ARGV[8] cap per week (0 = none)   ARGV[9] week field
  ARGV[10] cap in total (0 = none)
  ARGV[11] budget: 'inline' (check and count KEYS[5]), 'reserved' (a bucket was reserved before),
           or the rejection code when every bucket was exhausted ('BUDGET_TOTAL' / 'BUDGET_DAY')
  ARGV[12] inline budget total   ARGV[13] inline budget per day (0 = none)   ARGV[14] budget day field
  ARGV[15] grant record (JSON) stored and appended on grant   ARGV[16] idempotency TTL (s)
  ARGV[17] ledger entries kept per user
  Returns:
    {1, grantJson, replayed}  granted (replayed = 1: the first result of this key, nothing written)
    {0, code, replayed}       rejected with a reason code (consult: {1, '', 0} when every check passes)
    {-1}  STALE_DEFINITION: the definition changed since the verdict was computed; nothing written
    {-2}  NOT_FOUND: the activity is not defined; nothing written
]]
local apply = ARGV[1] == 'apply'
if apply then
  local seen = redis.call('GET', KEYS[2])
  if seen then
    if string.sub(seen, 1, 1) == 'G' then
      return { 1, string.sub(seen, 3), 1 }
    end
    return { 0, string.sub(seen, 3), 1 }
  end
end

local def = redis.call('HMGET', KEYS[1], 'status', 'ver')
if not def[1] then
  return { -2 }
end
if def[2] ~= ARGV[2] then
  return { -1 }
end

local ttl = ARGV[16]
local function reject(code)
  if apply then
    redis.call('SET', KEYS[2], 'R|' .. code, 'EX', ttl)
  end
  return { 0, code, 0 }
end
local function count(key, field)
  return tonumber(redis.call('HGET', key, field) or '0')
end

if def[1] ~= 'ACTIVE' then
  return reject('ACTIVITY_PAUSED')
end
if ARGV[3] ~= '' then
  return reject(ARGV[3])
end

local velocity = tonumber(ARGV[4])
if velocity > 0 then
  if count(KEYS[3], ARGV[5]) >= velocity then
    return reject('RISK_VELOCITY')
  end
  -- Velocity counts fresh evaluations that got this far, granted or not: it measures attempts, not grants.
  if apply then
    redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  end
end

local capDay, capWeek, capTotal = tonumber(ARGV[6]), tonumber(ARGV[8]), tonumber(ARGV[10])
if capDay > 0 and count(KEYS[3], ARGV[7]) >= capDay then
  return reject('CAP_DAY')
end
if capWeek > 0 and count(KEYS[3], ARGV[9]) >= capWeek then
  return reject('CAP_WEEK')
end
if capTotal > 0 and count(KEYS[3], 't') >= capTotal then
  return reject('CAP_TOTAL')
end

local budget = ARGV[11]
if budget == 'inline' then
  if count(KEYS[5], 'used') >= tonumber(ARGV[12]) then
    return reject('BUDGET_TOTAL')
  end
  local perDay = tonumber(ARGV[13])
  if perDay > 0 and count(KEYS[5], ARGV[14]) >= perDay then
    return reject('BUDGET_DAY')
  end
elseif budget ~= 'reserved' then
  return reject(budget)
end

if not apply then
  return { 1, '', 0 }
end
if budget == 'inline' then
  redis.call('HINCRBY', KEYS[5], 'used', 1)
  redis.call('HINCRBY', KEYS[5], ARGV[14], 1)
end
redis.call('HINCRBY', KEYS[3], ARGV[7], 1)
redis.call('HINCRBY', KEYS[3], ARGV[9], 1)
redis.call('HINCRBY', KEYS[3], 't', 1)
redis.call('RPUSH', KEYS[4], ARGV[15])
redis.call('LTRIM', KEYS[4], -tonumber(ARGV[17]), -1)
redis.call('SET', KEYS[2], 'G|' .. ARGV[15], 'EX', ttl)
return { 1, ARGV[15], 0 }
