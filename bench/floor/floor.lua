-- The floor's request state: the same kind and number of Redis operations per lookup as the pipeline's
-- register / record / finish, written for the benchmark (no relations, no sweep, no streaming).
-- KEYS: deadlines zset, closed zset, outbox zset, request hash.  ARGV[1]: register | record | finish
local deadlines, closed, outbox, req = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function close(id, by, keep, lease)
    redis.call('ZREM', deadlines, id)
    redis.call('ZADD', closed, now + keep, id)
    redis.call('ZADD', outbox, now + lease, id)
    redis.call('HSET', req, 'closed_by', by, 'closed_at', now)
    return redis.call('HGETALL', req)
end

local cmd = ARGV[1]
if cmd == 'register' then
    -- id, meta, deadline_ms, grace_ms, keep_ms, lease_ms, n, keys...
    local id, meta, deadline = ARGV[2], ARGV[3], tonumber(ARGV[4])
    local grace, keep, lease, n = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
    if redis.call('ZSCORE', closed, id) then return {'closed'} end
    if redis.call('HEXISTS', req, 'meta') == 1 then return {'duplicate'} end
    redis.call('HSET', req, 'meta', meta, 'deadline', deadline, 'stream', '')
    local pending = 0
    for i = 1, n do
        local key = ARGV[8 + i]
        redis.call('HSET', req, 'e:' .. key, 1, 'q:' .. key, '{}')
        if redis.call('HEXISTS', req, 'f:' .. key) == 0 then pending = pending + 1 end
    end
    redis.call('HSET', req, 'pending', pending)
    redis.call('PEXPIRE', req, math.max(deadline - now, 0) + grace)
    if pending == 0 then return {'closed_now', close(id, 'all_sources', keep, lease)} end
    redis.call('ZADD', deadlines, deadline, id)
    return {'registered'}
elseif cmd == 'record' then
    -- id, key, fragment, deadline_ms, grace_ms, keep_ms, lease_ms
    local id, key, fragment, deadline = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
    local grace, keep, lease = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
    if redis.call('ZSCORE', closed, id) then return {'late'} end
    local registered = redis.call('HEXISTS', req, 'meta') == 1
    if redis.call('HEXISTS', req, 'f:' .. key) == 1 then return {'duplicate'} end
    if not registered then
        redis.call('HSET', req, 'f:' .. key, fragment)
        redis.call('PEXPIRE', req, math.max(deadline - now, 0) + grace)
        return {'early'}
    end
    if redis.call('HEXISTS', req, 'e:' .. key) == 0 then return {'unexpected'} end
    redis.call('HSET', req, 'f:' .. key, fragment)
    redis.call('HINCRBY', req, 'seq', 1)
    redis.call('HGET', req, 'stream')
    local pending = redis.call('HINCRBY', req, 'pending', -1)
    if redis.call('HEXISTS', req, 'x:' .. key) == 1 then return {'expand'} end
    if pending <= 0 then return {'closed_now', close(id, 'all_sources', keep, lease)} end
    return {'recorded'}
elseif cmd == 'finish' then
    redis.call('DEL', req)
    redis.call('ZREM', outbox, ARGV[2])
    return {'finished'}
end
return redis.error_reply('unknown command')
