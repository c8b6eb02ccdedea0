--[[
  reserveBudget: take one unit of one budget bucket for one idempotency key, at most once per key. A bucket
  is a slot of its own (hot budgets are split); the grant itself is decided afterwards by applyActivity, and
  a reservation that does not end in a grant is given back with releaseBudget. Used never passes the limit.

  KEYS[1] bucket hash (used, d:<day>)     KEYS[2] this key's reservation record in the bucket ('R|<day field>'
          while held, 'X|<day field>' once released)
  ARGV[1] bucket total limit   ARGV[2] bucket limit per day (0 = none)   ARGV[3] day field   ARGV[4] record TTL (s)
  Returns:
    1  reserved now
    2  already reserved by this key (a retry): nothing changed
    3  reserved by this key before and released: nothing changed
   -1  the bucket's total is used up; nothing changed
   -2  the bucket's share of today is used up; nothing changed
]]
local held = redis.call('GET', KEYS[2])
if held then
  if string.sub(held, 1, 1) == 'R' then
    return 2
  end
  return 3
end
if tonumber(redis.call('HGET', KEYS[1], 'used') or '0') >= tonumber(ARGV[1]) then
  return -1
end
local perDay = tonumber(ARGV[2])
if perDay > 0 and tonumber(redis.call('HGET', KEYS[1], ARGV[3]) or '0') >= perDay then
  return -2
end
redis.call('HINCRBY', KEYS[1], 'used', 1)
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
redis.call('SET', KEYS[2], 'R|' .. ARGV[3], 'EX', ARGV[4])
return 1
