--[[
  reserveCoupon: take one coupon of a template for one step key, within the template's stock. A step key that
  reserved before gets its first code back and counts nothing, so a retried or concurrent step never takes a
  second unit; an exhausted template is refused without writing (a refusal is not remembered: stock is
  checked again on the next attempt).

  Both keys are in the template's hash tag {<ns>:coupon:<merchantId>:<template>}.
  KEYS[1] the template's issued counter (integer)    KEYS[2] this step's reservation (the code, with a TTL)
  ARGV[1] stock: most coupons the template issues in total (0 = no limit)
  ARGV[2] the code to issue when the step reserves now    ARGV[3] TTL of the reservation (s)
  Returns:
    {1, code, 0}  reserved now (the counter went up by one)
    {1, code, 1}  reserved before: the first code, nothing written
    {0}           OUT_OF_STOCK: the template issued its whole stock; nothing written
]]
local seen = redis.call('GET', KEYS[2])
if seen then
  return { 1, seen, 1 }
end
local stock = tonumber(ARGV[1])
if stock > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= stock then
  return { 0 }
end
redis.call('INCR', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return { 1, ARGV[2], 0 }
