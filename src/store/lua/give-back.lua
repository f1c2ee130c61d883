-- Returns unused leased units. KEYS[i]: one per limit. ARGV: 4 per limit: kind, a, b, amount
-- (as in decide.lua). A bucket refills first and never exceeds its burst; a counter never goes below 0.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  local o = (i - 1) * 4
  local a = tonumber(ARGV[o + 2])
  local b = tonumber(ARGV[o + 3])
  local amount = tonumber(ARGV[o + 4])
  if tonumber(ARGV[o + 1]) == 0 then
    local s = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
    local tk = tonumber(s[1])
    local ts = tonumber(s[2])
    if tk ~= nil and ts ~= nil then
      tk = math.min(b, tk + math.max(0, now - ts) * a / 1000 + amount)
      redis.call('HSET', KEYS[i], 'tokens', tostring(tk), 'ts', tostring(now))
    end
  else
    local used = tonumber(redis.call('GET', KEYS[i]))
    if used ~= nil then
      redis.call('SET', KEYS[i], tostring(math.max(0, used - amount)), 'KEEPTTL')
    end
  end
end
return 1
