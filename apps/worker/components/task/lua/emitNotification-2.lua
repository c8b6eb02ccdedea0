--[[
  emitNotification: append a notify step's notification to the notifications stream once per step key. A step
  key seen before returns the entry id it appended and appends nothing. The stream is not trimmed here: the
  notifier acknowledges entries, and trimming by length could drop one it has not delivered yet.

  Both keys are in the notifications stream's hash tag {<ns>:out:notifications}.
  KEYS[1] this step's mark (the entry id, with a TTL)    KEYS[2] the notifications stream
  ARGV[1] the encoded envelope (field 'e', as the notifier reads it)    ARGV[2] TTL of the mark (s)
  Returns:
    {entryId, 0}  appended now
    {entryId, 1}  appended before: nothing written
]]
local seen = redis.call('GET', KEYS[1])
if seen then
  return { seen, 1 }
end
local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[1])
redis.call('SET', KEYS[1], id, 'EX', ARGV[2])
return { id, 0 }
