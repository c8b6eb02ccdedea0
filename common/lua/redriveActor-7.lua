--[[
  redriveActor: a sweeper executor's one write for one stalled actor, atomic and fenced three ways: the
  executor must still hold the actor lease, the actor must still be at the version the executor read (no
  turn and no other executor committed meanwhile), and its due-index score must still be the one the loader
  saw (the owner did not fire it meanwhile). Checked in that order; a failed check writes nothing.

  Every key is in the partition's hash tag (one Cluster slot).
  KEYS[1] actor hash (v, d)          KEYS[2] due index (ZSET)       KEYS[3] partition inbox stream
  KEYS[4] audit stream               KEYS[5] actor history list     KEYS[6] manual-intervention index (ZSET)
  KEYS[7] actor lease (the redlock key)
  ARGV[1] mode: 'redrive' | 'manual' | 'drop' | 'resume'
  ARGV[2] expected version           ARGV[3] expected due score ('' = none: resume)   ARGV[4] due member "type/id"
  ARGV[5] new record bytes           ARGV[6] redrive, resume: next due score; manual: when it entered manual intervention
  ARGV[7] redrive, resume: the timer-tick envelope appended to the inbox ('' otherwise)
  ARGV[8] audit record bytes         ARGV[9] audit MAXLEN ~         ARGV[10] history length kept per actor
  ARGV[11] actor lease value ('' skips the lease check)
  redrive: v+1 and the record, the due score moved to ARGV[6], the tick appended, one audit record.
  manual:  v+1 and the record, out of the due index, into the manual index (entry time kept if already there),
           one audit record; no tick.
  drop:    the actor has no record: its due entry is removed (nothing else to drive).
  resume:  (ops) v+1 and the record, out of the manual index, back in the due index, the tick, one audit record.
  On a write (redrive, manual) the actor lease ARGV[11] is given back (deleted) with it: held until the write, no longer.
  Returns:
    n > 0  written; n is the actor's new version
    0      drop done
   -1      STALE_VERSION: the actor is not at ARGV[2] (or drop: it has a record after all)
   -3      DUE_MOVED: the due score is not ARGV[3] any more (or the actor left the due index)
   -4      ACTOR_LEASE_LOST: KEYS[7] does not hold ARGV[11]
]]
if ARGV[11] ~= '' and redis.call('GET', KEYS[7]) ~= ARGV[11] then
  return -4
end
local mode = ARGV[1]
local member = ARGV[4]
local current = redis.call('HGET', KEYS[1], 'v')
-- The version first: two executors that read the same version race here, and one is refused as stale.
if mode == 'drop' then
  if current then
    return -1
  end
elseif not current or tonumber(current) ~= tonumber(ARGV[2]) then
  return -1
end
-- Then the due score: the owner firing the timer moves it without a new version.
if ARGV[3] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], member)
  if not score or tonumber(score) ~= tonumber(ARGV[3]) then
    return -3
  end
end
if mode == 'drop' then
  redis.call('ZREM', KEYS[2], member)
  return 0
end
local version = tonumber(current) + 1
redis.call('HSET', KEYS[1], 'v', version, 'd', ARGV[5])
if mode == 'manual' then
  redis.call('ZREM', KEYS[2], member)
  redis.call('ZADD', KEYS[6], 'NX', ARGV[6], member)
else
  if mode == 'resume' then
    redis.call('ZREM', KEYS[6], member)
  end
  redis.call('ZADD', KEYS[2], ARGV[6], member)
  redis.call('XADD', KEYS[3], '*', 'e', ARGV[7])
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', 'e', ARGV[8])
if ARGV[11] ~= '' then
  redis.call('DEL', KEYS[7])
end
local historyMax = tonumber(ARGV[10])
-- Trimmed in steps (at 1.5x the limit), as the commit script does.
if historyMax > 0 and redis.call('RPUSH', KEYS[5], ARGV[8]) > historyMax + math.floor(historyMax / 2) then
  redis.call('LTRIM', KEYS[5], -historyMax, -1)
end
return version
