-- Counts requests the local fallback limiter admitted while Redis was away into their scope's
-- requests-per-minute window, so that Redis, back, does not hand out the whole limit again.
-- They go into the current second (they are at most a minute old): counted a little longer
-- than they happened, never shorter.
--
-- KEYS[1]  a requests-per-minute window (the hash admit.lua keeps)
-- ARGV[1]  requests to add
--
-- `window` and `count` come from window.lua (prepended at build time), as in admit.lua.

window(KEYS[1])
count(KEYS[1], tonumber(ARGV[1]))
return 1
