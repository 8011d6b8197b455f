-- Admission in one round trip: check every scope, then reserve in all of them or in none.
--
-- KEYS (two per scope i, then one per budget j, all hash-tagged by tenant so they share one
-- cluster slot):
--   KEYS[2i-1]  requests-per-minute window: a hash of per-second buckets
--               { "<unix second>" = count, "n" = sum of live buckets, "lo" = oldest live bucket }
--   KEYS[2i]    concurrency leases: a zset of request_id -> lease expiry (unix ms)
--   KEYS[2n+j]  budget j's spend this period, integer nano-dollars (settled + reserved)
-- ARGV:
--   ARGV[1]     request id (the lease member)
--   ARGV[2]     slot lease in ms
--   ARGV[3]     numbers per scope (STRIDE)
--   ARGV[4]     number of budgets (m)
--   scope i's numbers start at ARGV[4 + (i-1)*STRIDE + 1]: +1 rpm limit, +2 concurrency limit
--               (0 = unlimited). Later limits (tokens per minute) append numbers here.
--   budget j's numbers start at ARGV[4 + n*STRIDE + (j-1)*5 + 1]: +1 limit, +2 seed (spend the
--               ledger already holds, used when the counter is missing), +3 this request's
--               reservation, +4 counter lifetime ms, +5 ms until the period resets
-- Reply:
--   admitted: { 1, hdr_limit, hdr_remaining, hdr_reset_ms }
--   refused:  { 0, hdr_limit, hdr_remaining, hdr_reset_ms, index (1-based; of the scope, or of
--               the budget for kind 3), kind (1 rpm, 2 concurrency, 3 budget), retry_after_ms }
--   hdr_* describe the tightest rpm scope (least remaining); all 0 when no scope limits rpm.
--
-- Time is the server's (TIME), so every edge replica sees the same clock. Scripts are replicated
-- by effects (the default since Redis 5), which makes reading TIME before writing legal.

local WINDOW = 60
local t = redis.call('TIME')
local now_s = tonumber(t[1])
local now_ms = now_s * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid = ARGV[1]
local lease = tonumber(ARGV[2])
local stride = tonumber(ARGV[3])
local nbudgets = tonumber(ARGV[4])
local nscopes = (#KEYS - nbudgets) / 2
local bbase = 4 + nscopes * stride

-- Drops the buckets that left the window and returns (live count, oldest live bucket).
-- Amortised O(1): "lo" only moves forward, one step per elapsed second, at most WINDOW steps.
local function window(key)
  local st = redis.call('HMGET', key, 'n', 'lo')
  local n = tonumber(st[1]) or 0
  if n <= 0 then return 0, now_s end
  local lo = tonumber(st[2]) or now_s
  local cutoff = now_s - WINDOW + 1
  -- Every bucket present lies in [lo, lo + WINDOW - 1]; if that range is all old, drop it at once.
  if lo + WINDOW - 1 < cutoff then
    redis.call('DEL', key)
    return 0, now_s
  end
  local start = lo
  while n > 0 and lo <= now_s do
    local v = tonumber(redis.call('HGET', key, lo))
    if v then
      if lo >= cutoff then break end
      n = n - v
      redis.call('HDEL', key, lo)
    end
    lo = lo + 1
  end
  if n <= 0 then
    redis.call('DEL', key)
    return 0, now_s
  end
  if lo ~= start then redis.call('HSET', key, 'n', n, 'lo', lo) end
  return n, lo
end

local counts, oldest = {}, {}
local refused, refused_kind, retry_ms = 0, 0, 0

for i = 1, nscopes do
  local base = 4 + (i - 1) * stride
  local rpm = tonumber(ARGV[base + 1])
  local conc = tonumber(ARGV[base + 2])
  local n, lo = 0, now_s
  if rpm > 0 then
    n, lo = window(KEYS[2 * i - 1])
    if n >= rpm and refused == 0 then
      -- The oldest bucket leaving the window is the first moment a request can fit again.
      refused, refused_kind, retry_ms = i, 1, (lo + WINDOW) * 1000 - now_ms
    end
  end
  counts[i], oldest[i] = n, lo
  if conc > 0 and refused == 0 then
    local key = KEYS[2 * i]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now_ms)
    -- A retried admission of the same request keeps its slot instead of taking a second one.
    if not redis.call('ZSCORE', key, rid) and redis.call('ZCARD', key) >= conc then
      -- Slots free when a request ends, which no clock predicts: ask the client to retry soon.
      refused, refused_kind, retry_ms = i, 2, 1000
    end
  end
end

-- Budgets: spend so far plus this request's reservation must fit. Counters start from the
-- ledger's figure (seed) the first time a period is seen, or after Redis lost its data.
for j = 1, nbudgets do
  local o = bbase + (j - 1) * 5
  local key = KEYS[2 * nscopes + j]
  local cur = redis.call('GET', key)
  if cur then
    cur = tonumber(cur)
  else
    cur = tonumber(ARGV[o + 2])
    redis.call('SET', key, ARGV[o + 2], 'PX', ARGV[o + 4])
  end
  if refused == 0 and cur + tonumber(ARGV[o + 3]) > tonumber(ARGV[o + 1]) then
    refused, refused_kind, retry_ms = j, 3, tonumber(ARGV[o + 5])
  end
end

local admitted = refused == 0
if admitted then
  for j = 1, nbudgets do
    local o = bbase + (j - 1) * 5
    redis.call('INCRBY', KEYS[2 * nscopes + j], ARGV[o + 3])
  end
  for i = 1, nscopes do
    local base = 4 + (i - 1) * stride
    if tonumber(ARGV[base + 1]) > 0 then
      local key = KEYS[2 * i - 1]
      redis.call('HINCRBY', key, now_s, 1)
      if redis.call('HINCRBY', key, 'n', 1) == 1 then redis.call('HSET', key, 'lo', now_s) end
      redis.call('PEXPIRE', key, (WINDOW + 1) * 1000)
    end
    if tonumber(ARGV[base + 2]) > 0 then
      local key = KEYS[2 * i]
      redis.call('ZADD', key, now_ms + lease, rid)
      -- Every member expires within one lease of now, so the key may too.
      redis.call('PEXPIRE', key, lease + 1000)
    end
  end
end

-- Headers from the tightest rpm scope.
local h_limit, h_rem, h_reset = 0, -1, 0
for i = 1, nscopes do
  local rpm = tonumber(ARGV[4 + (i - 1) * stride + 1])
  if rpm > 0 then
    local used, lo = counts[i], oldest[i]
    if admitted then
      if used == 0 then lo = now_s end
      used = used + 1
    end
    local rem = rpm - used
    if rem < 0 then rem = 0 end
    local reset = 0
    if used > 0 then reset = (lo + WINDOW) * 1000 - now_ms end
    if h_rem < 0 or rem < h_rem or (rem == h_rem and rpm < h_limit) then
      h_limit, h_rem, h_reset = rpm, rem, reset
    end
  end
end
if h_rem < 0 then h_rem = 0 end

if admitted then
  return { 1, h_limit, h_rem, h_reset }
end
return { 0, h_limit, h_rem, h_reset, refused, refused_kind, retry_ms }
