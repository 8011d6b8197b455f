-- Admission in one round trip: check every scope, then reserve in all of them or in none.
--
-- KEYS (three per scope i, then one per budget j, all hash-tagged by tenant so they share one
-- cluster slot):
--   KEYS[3i-2]  requests-per-minute window: a hash of per-second buckets
--               { "<unix second>" = count, "n" = sum of live buckets, "lo" = oldest live bucket }
--   KEYS[3i-1]  concurrency leases: a zset of request_id -> lease expiry (unix ms)
--   KEYS[3i]    tokens-per-minute window: the same hash shape, counting tokens (settle.lua
--               corrects a request's reservation in its own bucket; the sum is floored at 0)
--   KEYS[3n+j]  budget j's spend this period, integer nano-dollars (settled + reserved)
-- ARGV:
--   ARGV[1]     request id (the lease member)
--   ARGV[2]     slot lease in ms
--   ARGV[3]     numbers per scope (STRIDE, 3)
--   ARGV[4]     number of budgets (m)
--   ARGV[5]     tokens this request reserves (prompt estimate + output allowance)
--   ARGV[6]     edges deciding requests per minute locally (k): each may admit its share
--               without Redis, so k shares of every rpm limit are kept out of Redis's reach
--   ARGV[7]     the divisor of the shares (N): a share is max(1, floor(limit / N))
--   scope i's numbers start at ARGV[7 + (i-1)*STRIDE + 1]: +1 rpm limit, +2 concurrency limit,
--               +3 tpm limit (0 = unlimited)
--   budget j's numbers start at ARGV[7 + n*STRIDE + (j-1)*5 + 1]: +1 limit, +2 seed (spend the
--               ledger already holds, used when the counter is missing), +3 this request's
--               reservation, +4 counter lifetime ms, +5 ms until the period resets
-- Reply (fixed positions):
--   { admitted (1|0), req_limit, req_remaining, req_reset_ms, tok_limit, tok_remaining,
--     tok_reset_ms, now_s, index, kind, retry_after_ms }
--   index is 1-based, of the scope (or of the budget for kind 3); kind 1 rpm, 2 concurrency,
--   3 budget, 4 tpm; index, kind and retry_after_ms are 0 when admitted.
--   req_* describe the tightest rpm scope (least remaining), tok_* the tightest tpm scope; all 0
--   when no scope limits that. now_s is the server second the reservation was counted in.
--
-- Time is the server's (TIME), so every edge replica sees the same clock. Scripts are replicated
-- by effects (the default since Redis 5), which makes reading TIME before writing legal.

-- WINDOW, t (TIME), now_s, window() and count() come from window.lua, prepended at build time.
local now_ms = now_s * 1000 + math.floor(tonumber(t[2]) / 1000)
local rid = ARGV[1]
local lease = tonumber(ARGV[2])
local stride = tonumber(ARGV[3])
local nbudgets = tonumber(ARGV[4])
local tokens = tonumber(ARGV[5])
local local_edges = tonumber(ARGV[6])
local divisor = tonumber(ARGV[7])
local nscopes = (#KEYS - nbudgets) / 3
local sbase = 7

-- What of an rpm limit Redis may hand out: the whole limit, less the shares of the edges that
-- admit locally and have not yet written back (see "The bound" in the crate docs).
local function rpm_room(rpm)
  if local_edges == 0 then return rpm end
  return rpm - local_edges * math.max(1, math.floor(rpm / divisor))
end
local bbase = sbase + nscopes * stride

local rcount, roldest, tcount, toldest = {}, {}, {}, {}
local refused, refused_kind, retry_ms = 0, 0, 0

for i = 1, nscopes do
  local base = sbase + (i - 1) * stride
  local rpm = tonumber(ARGV[base + 1])
  local conc = tonumber(ARGV[base + 2])
  local tpm = tonumber(ARGV[base + 3])
  local n, lo = 0, now_s
  if rpm > 0 then
    n, lo = window(KEYS[3 * i - 2])
    if n >= rpm_room(rpm) and refused == 0 then
      -- The oldest bucket leaving the window is the first moment a request can fit again.
      refused, refused_kind, retry_ms = i, 1, (lo + WINDOW) * 1000 - now_ms
    end
  end
  rcount[i], roldest[i] = n, lo
  n, lo = 0, now_s
  if tpm > 0 then
    n, lo = window(KEYS[3 * i])
    -- A request larger than the whole limit still passes when the window is empty, so it is
    -- slowed to one per minute rather than refused forever.
    if n > 0 and n + tokens > tpm and refused == 0 then
      refused, refused_kind, retry_ms = i, 4, (lo + WINDOW) * 1000 - now_ms
    end
  end
  tcount[i], toldest[i] = n, lo
  if conc > 0 and refused == 0 then
    local key = KEYS[3 * i - 1]
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
  local key = KEYS[3 * nscopes + j]
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
    redis.call('INCRBY', KEYS[3 * nscopes + j], ARGV[o + 3])
  end
  for i = 1, nscopes do
    local base = sbase + (i - 1) * stride
    if tonumber(ARGV[base + 1]) > 0 then
      count(KEYS[3 * i - 2], 1)
    end
    if tonumber(ARGV[base + 2]) > 0 then
      local key = KEYS[3 * i - 1]
      redis.call('ZADD', key, now_ms + lease, rid)
      -- Every member expires within one lease of now, so the key may too.
      redis.call('PEXPIRE', key, lease + 1000)
    end
    if tonumber(ARGV[base + 3]) > 0 and tokens > 0 then
      count(KEYS[3 * i], tokens)
    end
  end
end

-- Headers from the tightest scope of a kind: `off` picks the limit (1 rpm, 3 tpm), `add` is
-- what this request counted in it when admitted.
local function tightest(off, counts, oldest, add, room)
  local h_limit, h_rem, h_reset = 0, -1, 0
  for i = 1, nscopes do
    local limit = tonumber(ARGV[sbase + (i - 1) * stride + off])
    if limit > 0 then
      local used, lo = counts[i], oldest[i]
      if admitted and add > 0 then
        if used == 0 then lo = now_s end
        used = used + add
      end
      local rem = room(limit) - used
      if rem < 0 then rem = 0 end
      local reset = 0
      if used > 0 then reset = (lo + WINDOW) * 1000 - now_ms end
      if h_rem < 0 or rem < h_rem or (rem == h_rem and limit < h_limit) then
        h_limit, h_rem, h_reset = limit, rem, reset
      end
    end
  end
  if h_rem < 0 then h_rem = 0 end
  return h_limit, h_rem, h_reset
end

local function whole(limit) return limit end
local rl, rr, rs = tightest(1, rcount, roldest, 1, rpm_room)
local tl, tr, ts = tightest(3, tcount, toldest, tokens, whole)
return { admitted and 1 or 0, rl, rr, rs, tl, tr, ts, now_s, refused, refused_kind, retry_ms }
