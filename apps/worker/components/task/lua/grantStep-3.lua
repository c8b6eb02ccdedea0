--[[
  grantStep: grant one reward step to a user at most once per step key. A step key seen before returns its
  first result and writes nothing; otherwise the balance (points or growth) goes up, the ledger gets its
  entry and the step's result is stored, all at once: a crash between them cannot grant twice or lose the mark.

  Every key is in the user's hash tag {<ns>:tu:<userId>}.
  KEYS[1] the step's result (string: the step's reference as JSON, with a TTL)
  KEYS[2] the user's balances hash (points, growth)    KEYS[3] the user's ledger list (JSON entries, oldest first)
  ARGV[1] balance field ('points' or 'growth'), or '' for a step with no balance (a coupon already reserved)
  ARGV[2] amount added to the balance field (integer; ignored without a field)
  ARGV[3] the reference stored when there is no balance field (with one, it is {"amount":A,"balance":B}, made here)
  ARGV[4] the ledger entry (JSON)    ARGV[5] TTL of the step's result (s)    ARGV[6] ledger entries kept
  Returns:
    {reference, 0}  granted now
    {reference, 1}  the step was granted before: its first reference, nothing written
]]
local seen = redis.call('GET', KEYS[1])
if seen then
  return { seen, 1 }
end
local ref = ARGV[3]
if ARGV[1] ~= '' then
  local balance = redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
  ref = '{"amount":' .. ARGV[2] .. ',"balance":' .. string.format('%d', balance) .. '}'
end
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[6]), -1)
redis.call('SET', KEYS[1], ref, 'EX', ARGV[5])
return { ref, 0 }
