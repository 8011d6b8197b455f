-- Counts requests the local fallback limiter admitted while Redis was away into their scope's
-- requests-per-minute window, so that Redis, back, does not hand out the whole limit again.
-- They go into the current second (they are at most a minute old): counted a little longer
-- than they happened, never shorter.
--
-- KEYS[1]  a requests-per-minute window (the hash admit.lua keeps)
-- ARGV[1]  requests to add
--
-- `window` and `count` are admit.lua's, so the hash stays in the shape that script expects.

local WINDOW = 60
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local function window(key)
  local st = redis.call('HMGET', key, 'n', 'lo')
  if not st[1] then return 0, now_s end
  local n = tonumber(st[1])
  local lo = tonumber(st[2]) or now_s
  local cutoff = now_s - WINDOW + 1
  -- Every bucket present lies in [lo, lo + WINDOW - 1]; if that range is all old, drop it at once.
  if lo + WINDOW - 1 < cutoff then
    redis.call('DEL', key)
    return 0, now_s
  end
  local start = lo
  while lo <= now_s do
    local v = tonumber(redis.call('HGET', key, lo))
    if v then
      if lo >= cutoff then break end
      n = n - v
      redis.call('HDEL', key, lo)
    end
    lo = lo + 1
  end
  if lo > now_s then
    -- No bucket left: nothing counts any more.
    redis.call('DEL', key)
    return 0, now_s
  end
  if lo ~= start then redis.call('HSET', key, 'n', n, 'lo', lo) end
  if n < 0 then n = 0 end
  return n, lo
end

local function count(key, v)
  redis.call('HINCRBY', key, now_s, v)
  redis.call('HINCRBY', key, 'n', v)
  local lo = tonumber(redis.call('HGET', key, 'lo'))
  if not lo or lo > now_s then redis.call('HSET', key, 'lo', now_s) end
  redis.call('PEXPIRE', key, (WINDOW + 1) * 1000)
end

window(KEYS[1])
count(KEYS[1], tonumber(ARGV[1]))
return 1
