-- Settlement of a tokens-per-minute reservation: replaces the tokens a request reserved with the
-- tokens it really used, in every tpm window it reserved in.
--
-- While the reservation's bucket is still in the window, the correction (actual - reserved) goes
-- into that same bucket, so the request's tokens leave the window together; a correction in the
-- current bucket would outlive the reservation it cancels and undercount the window for as long
-- as the request ran. Once the reservation has left the window, nothing of it is counted any
-- more, so the actual tokens are counted whole in the current bucket. A bucket never goes below
-- 0 (the window lost its data, e.g. evicted), so neither does a window.
--
-- KEYS[i]  tpm windows (the hash admit.lua keeps)
-- ARGV[1]  tokens reserved at admission
-- ARGV[2]  tokens actually used
-- ARGV[3]  the server second the reservation was counted in
local WINDOW = 60
local now_s = tonumber(redis.call('TIME')[1])
local reserved, actual, at = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket, delta = at, actual - reserved
if now_s - at >= WINDOW then bucket, delta = now_s, actual end
if delta == 0 then return 0 end
for i = 1, #KEYS do
  local key = KEYS[i]
  local d = delta
  local held = tonumber(redis.call('HGET', key, bucket)) or 0
  if held + d < 0 then d = -held end
  if d ~= 0 then
    redis.call('HINCRBY', key, bucket, d)
    redis.call('HINCRBY', key, 'n', d)
    local lo = tonumber(redis.call('HGET', key, 'lo'))
    if not lo or lo > bucket then redis.call('HSET', key, 'lo', bucket) end
    redis.call('PEXPIRE', key, (WINDOW + 1) * 1000)
  end
end
return 0
