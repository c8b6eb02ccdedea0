--[[
  deadLetter: move one entry to the dead-letter stream and acknowledge it, in one step, so an entry is
  never both lost and acknowledged nor dead-lettered twice.

  KEYS[1] source stream       KEYS[2] dead-letter stream (same hash tag)
  ARGV[1] consumer group      ARGV[2] entry id      ARGV[3] dead-letter MAXLEN ~
  ARGV[4..] field, value pairs to record (reason, code, deliveries, the original fields and bytes)
  Returns: 1 dead-lettered; 0 the entry was no longer pending (someone else settled it), nothing written.
]]
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 then
  return 0
end
local args = { 'XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*' }
for i = 4, #ARGV do
  args[#args + 1] = ARGV[i]
end
redis.call(unpack(args))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
