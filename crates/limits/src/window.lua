-- The requests- and tokens-per-minute window, shared by admit.lua and writeback.lua (each is
-- sent as this file followed by its own text, so the hash has one shape and one reader):
-- a hash of per-second buckets { "<unix second>" = count, "n" = sum of live buckets,
-- "lo" = oldest live bucket }. Time is the server's (TIME), so every edge replica sees one clock.

local WINDOW = 60
local t = redis.call('TIME')
local now_s = tonumber(t[1])

-- Drops the buckets that left the window and returns (live sum floored at 0, oldest live
-- bucket). Amortised O(1): "lo" only moves forward, one step per elapsed second. A token window
-- may hold zero-valued buckets (fully returned reservations), so the walk does not stop when the
-- sum reaches 0.
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

-- Adds `v` into the current second's bucket of window `key`.
local function count(key, v)
  redis.call('HINCRBY', key, now_s, v)
  redis.call('HINCRBY', key, 'n', v)
  local lo = tonumber(redis.call('HGET', key, 'lo'))
  if not lo or lo > now_s then redis.call('HSET', key, 'lo', now_s) end
  redis.call('PEXPIRE', key, (WINDOW + 1) * 1000)
end

