--[[
  addSweepTasks: the splitter leader appends sweep tasks, only while it still holds the leader lease, so a
  deposed leader (paused past its lease) cannot add a tick beside its successor's.

  KEYS[1] leader lease    KEYS[2] sweep task stream
  ARGV[1] leader token    ARGV[2] task stream MAXLEN ~    ARGV[3] tick id    ARGV[4] number of tasks
  then per task: first partition, partition after the last
  Returns: the number of tasks appended, or -2 (LEASE_LOST) when ARGV[1] does not hold KEYS[1]: nothing appended.
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -2
end
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 't', ARGV[3], 'from', ARGV[5 + 2 * i], 'to', ARGV[6 + 2 * i])
end
return n
