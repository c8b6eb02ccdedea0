--[[
  commitTurns: commit a batch of actor turns of ONE partition, each turn atomically and in order.

  Every key is in the partition's hash tag, so the whole batch runs in one Cluster slot.
  KEYS[1] inbox stream        KEYS[2] due index (ZSET)   KEYS[3] outbox stream
  KEYS[4] audit stream        KEYS[5] partition lease    KEYS[6] manual-intervention index (ZSET)
  KEYS[7..] per turn, in turn order: the actor hash, then the actor's history list
  ARGV[1] consumer group      ARGV[2] lease token ('' skips the lease check)
  ARGV[3] audit MAXLEN ~      ARGV[4] history length kept per actor     ARGV[5] number of turns
  then per turn:
    entryId ('' = none to ack), expectedVersion (-1 = acknowledge only), state bytes,
    dueScore ('' = remove from the due index, '-' = leave it as it is), dueMember,
    manual ('-' = unchanged, '' = left manual intervention, else the time it entered it),
    nOutbox, nLocal, nAudit, then nOutbox pairs (target stream, envelope), nLocal envelopes, nAudit records
    (each audit record is appended to the audit stream and to the actor's history list, which is
    trimmed back to the limit once it grows past 1.5 times it)
  Returns an array with one code per turn:
    n > 0  committed; n is the new version
    0      acknowledged only (duplicate or no-op)
   -1      STALE_VERSION: the actor is not at expectedVersion; nothing of this turn was written, and no
           later turn of the same actor in this batch is written either (they were decided on this one)
  or the single integer -2 (LEASE_LOST) when ARGV[2] does not hold KEYS[5]: nothing was written.
]]
local group = ARGV[1]
if ARGV[2] ~= '' and redis.call('GET', KEYS[5]) ~= ARGV[2] then
  return -2
end
local auditMax = ARGV[3]
local historyMax = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local codes = {}
local refused = {}
local acks = {}
local a = 6
for t = 1, n do
  local entryId = ARGV[a]
  local expected = tonumber(ARGV[a + 1])
  local state = ARGV[a + 2]
  local dueScore = ARGV[a + 3]
  local dueMember = ARGV[a + 4]
  local manual = ARGV[a + 5]
  local nOut = tonumber(ARGV[a + 6])
  local nLocal = tonumber(ARGV[a + 7])
  local nAudit = tonumber(ARGV[a + 8])
  a = a + 9
  local key = KEYS[5 + 2 * t]
  local historyKey = KEYS[6 + 2 * t]
  local code = 0
  if refused[key] then
    code = -1
  elseif expected >= 0 then
    local current = tonumber(redis.call('HGET', key, 'v') or '0')
    if current ~= expected then
      code = -1
      refused[key] = true
    else
      code = expected + 1
      redis.call('HSET', key, 'v', code, 'd', state)
      if dueScore == '' then
        redis.call('ZREM', KEYS[2], dueMember)
      elseif dueScore ~= '-' then
        redis.call('ZADD', KEYS[2], dueScore, dueMember)
      end
      if manual == '' then
        redis.call('ZREM', KEYS[6], dueMember)
      elseif manual ~= '-' then
        redis.call('ZADD', KEYS[6], manual, dueMember)
      end
    end
  end
  if code >= 0 then
    for i = 0, nOut - 1 do
      redis.call('XADD', KEYS[3], '*', 's', ARGV[a + 2 * i], 'e', ARGV[a + 2 * i + 1])
    end
    for i = 0, nLocal - 1 do
      redis.call('XADD', KEYS[1], '*', 'e', ARGV[a + 2 * nOut + i])
    end
    for i = 0, nAudit - 1 do
      local record = ARGV[a + 2 * nOut + nLocal + i]
      redis.call('XADD', KEYS[4], 'MAXLEN', '~', auditMax, '*', 'e', record)
      -- Trim in steps (at 1.5x the limit) rather than on every append.
      if historyMax > 0 and redis.call('RPUSH', historyKey, record) > historyMax + math.floor(historyMax / 2) then
        redis.call('LTRIM', historyKey, -historyMax, -1)
      end
    end
    if entryId ~= '' then
      acks[#acks + 1] = entryId
    end
  end
  a = a + 2 * nOut + nLocal + nAudit
  codes[t] = code
end
-- One XACK for the batch: the turns above and their acknowledgements commit together in this script.
for i = 1, #acks, 500 do
  redis.call('XACK', KEYS[1], group, unpack(acks, i, math.min(i + 499, #acks)))
end
return codes
