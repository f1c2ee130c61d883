-- One atomic decision over every limit a request is subject to: all limits grant, or none is
-- touched. Time comes from Redis (TIME), so every gateway node shares one clock.
-- KEYS[i]: one per limit. ARGV: 5 per limit: kind (0 token bucket, 1 quota counter), a, b, want, min.
--   bucket: a = rate (tokens/s), b = burst.   quota: a = limit (-1: count only), b = counter ttl ms.
-- Grants min(want, available) per limit when that is at least `min` for every limit
-- (exact mode: want = min = 1; lease mode: want = the lease size, min = 1).
-- Returns {1, granted_1, ..., granted_n} or {0, index of the first limit that denied, retry ms (-1: quota)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local tokens = {}
local grant = {}
for i = 1, n do
  local o = (i - 1) * 5
  local kind = tonumber(ARGV[o + 1])
  local a = tonumber(ARGV[o + 2])
  local b = tonumber(ARGV[o + 3])
  local want = tonumber(ARGV[o + 4])
  local min = tonumber(ARGV[o + 5])
  if kind == 0 then
    local s = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
    local tk = tonumber(s[1])
    local ts = tonumber(s[2])
    if tk == nil or ts == nil then
      tk = b
      ts = now
    end
    tk = math.min(b, tk + math.max(0, now - ts) * a / 1000)
    local g = math.min(want, math.floor(tk))
    if g < min then
      return { 0, i, math.ceil((min - tk) * 1000 / a) }
    end
    tokens[i] = tk
    grant[i] = g
  else
    local used = tonumber(redis.call('GET', KEYS[i])) or 0
    local g = want
    if a >= 0 then g = math.min(want, a - used) end
    if g < min then
      return { 0, i, -1 }
    end
    grant[i] = g
  end
end
local out = { 1 }
for i = 1, n do
  local o = (i - 1) * 5
  local a = tonumber(ARGV[o + 2])
  local b = tonumber(ARGV[o + 3])
  if tonumber(ARGV[o + 1]) == 0 then
    redis.call('HSET', KEYS[i], 'tokens', tostring(tokens[i] - grant[i]), 'ts', tostring(now))
    -- A full bucket needs no state: let it expire once it would have refilled.
    redis.call('PEXPIRE', KEYS[i], math.ceil(b * 1000 / a) + 1000)
  else
    redis.call('INCRBY', KEYS[i], grant[i])
    redis.call('PEXPIRE', KEYS[i], b)
  end
  out[i + 1] = grant[i]
end
return out
