-- One fixed-window rate-limit step, atomic: count this call and make sure the window's key expires.
-- KEYS[1]  <namespace>:rate:<client>:<window>
-- ARGV[1]  milliseconds until the window ends (the key's TTL: it never outlives its window)
-- Returns {count in this window including this call, milliseconds the key still lives}.
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
