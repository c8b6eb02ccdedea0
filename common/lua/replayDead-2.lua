--[[
  replayDead: put a dead letter's original entry back on the stream it came from and delete the dead letter,
  in one step, so a dead letter is replayed at most once however often (or concurrently) it is asked for.

  KEYS[1] dead-letter stream        KEYS[2] the stream the entry came from (same hash tag)
  ARGV[1] dead letter id
  The dead letter holds `stream` (where the entry came from) and the original fields as `f:<name>`; the new
  entry gets exactly those fields and values (bytes untouched) under a new id.
  Returns:
    the new entry's id (a string)
    0   no such dead letter (already replayed or purged): nothing written
   -1   the dead letter came from another stream than KEYS[2]: nothing written
   -2   the dead letter holds no original fields: nothing written
]]
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then
  return 0
end
local fields = found[1][2]
local args = { 'XADD', KEYS[2], '*' }
local from = nil
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'stream' then
    from = fields[i + 1]
  elseif string.sub(name, 1, 2) == 'f:' then
    args[#args + 1] = string.sub(name, 3)
    args[#args + 1] = fields[i + 1]
  end
end
if from ~= KEYS[2] then
  return -1
end
if #args == 3 then
  return -2
end
-- Delete first, in the same script: a second replay finds nothing and adds nothing.
redis.call('XDEL', KEYS[1], ARGV[1])
return redis.call(unpack(args))
