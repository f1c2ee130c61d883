-- Atomic decisions, one after the other, for a batch of requests (a worker sends every decision of
-- one event-loop turn in one call). Each request's decision is all or nothing over its limits.
-- Time comes from Redis (TIME), so every gateway node shares one clock.
-- ARGV[1]: number of requests. Then per request: its number of limits n, then 5 values per limit:
--   kind (0 token bucket, 1 quota counter), a, b, want, min
--   bucket: a = rate (tokens/s), b = burst.   quota: a = limit (-1: count only), b = counter ttl ms.
-- KEYS: every request's limit keys, in the same order.
-- A request is granted min(want, available) per limit when that is at least `min` for every limit
-- (exact mode: want = min = 1; lease mode: want = the lease size, min = 1).
-- Returns, per request, 1 + max(n, 2) values: {1, granted_1..granted_n} or {0, index of the first
-- limit that refused, retry ms (-1: quota), 0-padding}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local argi = 2
local keyi = 1
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[argi])
  argi = argi + 1
  local tokens = {}
  local grant = {}
  local refused = 0
  local retry = 0
  for i = 1, n do
    local o = argi + (i - 1) * 5
    local key = KEYS[keyi + i - 1]
    local a = tonumber(ARGV[o + 1])
    local b = tonumber(ARGV[o + 2])
    local want = tonumber(ARGV[o + 3])
    local min = tonumber(ARGV[o + 4])
    if tonumber(ARGV[o]) == 0 then
      local s = redis.call('HMGET', key, 'tokens', 'ts')
      local tk = tonumber(s[1])
      local ts = tonumber(s[2])
      if tk == nil or ts == nil then
        tk = b
        ts = now
      end
      tk = math.min(b, tk + math.max(0, now - ts) * a / 1000)
      local g = math.min(want, math.floor(tk))
      if g < min then
        refused = i
        retry = math.ceil((min - tk) * 1000 / a)
        break
      end
      tokens[i] = tk
      grant[i] = g
    else
      local used = tonumber(redis.call('GET', key)) or 0
      local g = want
      if a >= 0 then g = math.min(want, a - used) end
      if g < min then
        refused = i
        retry = -1
        break
      end
      grant[i] = g
    end
  end
  if refused > 0 then
    out[#out + 1] = 0
    out[#out + 1] = refused
    out[#out + 1] = retry
    for _ = 3, n do out[#out + 1] = 0 end
  else
    out[#out + 1] = 1
    for i = 1, n do
      local o = argi + (i - 1) * 5
      local key = KEYS[keyi + i - 1]
      local a = tonumber(ARGV[o + 1])
      local b = tonumber(ARGV[o + 2])
      if tonumber(ARGV[o]) == 0 then
        redis.call('HSET', key, 'tokens', tostring(tokens[i] - grant[i]), 'ts', tostring(now))
        -- A full bucket needs no state: let it expire once it would have refilled.
        redis.call('PEXPIRE', key, math.ceil(b * 1000 / a) + 1000)
      else
        redis.call('INCRBY', key, grant[i])
        redis.call('PEXPIRE', key, b)
      end
      out[#out + 1] = grant[i]
    end
    if n < 2 then for _ = n + 1, 2 do out[#out + 1] = 0 end end
  end
  argi = argi + n * 5
  keyi = keyi + n
end
return out
