-- The assembler's request state, changed only here so that every change is atomic across replicas.
--
-- KEYS[1] deadlines  zset  request id -> deadline (ms)           shared by all requests
-- KEYS[2] closed     zset  request id -> forget-after (ms)        shared; tells late and duplicate apart
-- KEYS[3] outbox     zset  request id -> lease expiry (ms)        closed but not yet known to be published
-- KEYS[4] stats      hash  counters (late, duplicate, unexpected)
-- KEYS[5] request    hash  one request: meta, deadline, pending, e:<key>, f:<key>, closed_by, closed_at
--                          (for 'sweep': the prefix of request keys)
-- ARGV[1] command: register | record | sweep | finish
--
-- Time is the Redis server's, so that every replica judges a deadline by the same clock.

local deadlines, closed, outbox, stats, req = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local command = ARGV[1]

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Close a request exactly once: from here on it is in the outbox until its publisher calls 'finish'.
local function close(key, id, by, keep_ms, lease_ms)
    redis.call('ZREM', deadlines, id)
    redis.call('ZADD', closed, now + keep_ms, id)
    redis.call('ZADD', outbox, now + lease_ms, id)
    redis.call('HSET', key, 'closed_by', by, 'closed_at', now)
    return redis.call('HGETALL', key)
end

if command == 'register' then
    -- ARGV: id, meta, deadline_ms, grace_ms, keep_ms, lease_ms, key1, key2, ...
    local id, meta = ARGV[2], ARGV[3]
    local deadline, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
    local keep, lease = tonumber(ARGV[6]), tonumber(ARGV[7])
    if redis.call('ZSCORE', closed, id) then return {'closed'} end
    if redis.call('HEXISTS', req, 'meta') == 1 then return {'duplicate'} end
    redis.call('HSET', req, 'meta', meta, 'deadline', deadline)
    local pending = 0
    for i = 8, #ARGV do
        redis.call('HSET', req, 'e:' .. ARGV[i], 1)
        -- A fragment may have beaten its request here: it counts as already arrived.
        if redis.call('HEXISTS', req, 'f:' .. ARGV[i]) == 0 then pending = pending + 1 end
    end
    redis.call('HSET', req, 'pending', pending)
    redis.call('PEXPIRE', req, math.max(deadline - now, 0) + grace)
    if pending == 0 then return {'closed_now', close(req, id, 'all_sources', keep, lease)} end
    if now >= deadline then return {'closed_now', close(req, id, 'deadline', keep, lease)} end
    redis.call('ZADD', deadlines, deadline, id)
    return {'registered'}

elseif command == 'record' then
    -- ARGV: id, key, fragment, fragment_deadline_ms, grace_ms, keep_ms, lease_ms
    local id, key, fragment = ARGV[2], ARGV[3], ARGV[4]
    local deadline, grace = tonumber(ARGV[5]), tonumber(ARGV[6])
    local keep, lease = tonumber(ARGV[7]), tonumber(ARGV[8])
    if redis.call('ZSCORE', closed, id) then
        redis.call('HINCRBY', stats, 'late', 1)
        return {'late'}
    end
    local registered = redis.call('HEXISTS', req, 'meta') == 1
    if now >= deadline then
        -- Past the deadline nothing more counts; close now rather than wait for the sweep.
        redis.call('HINCRBY', stats, 'late', 1)
        if registered then return {'closed_now', close(req, id, 'deadline', keep, lease)} end
        return {'late'}
    end
    if redis.call('HEXISTS', req, 'f:' .. key) == 1 then
        redis.call('HINCRBY', stats, 'duplicate', 1)
        return {'duplicate'}
    end
    if not registered then
        redis.call('HSET', req, 'f:' .. key, fragment)
        redis.call('PEXPIRE', req, deadline - now + grace)
        return {'early'}
    end
    if redis.call('HEXISTS', req, 'e:' .. key) == 0 then
        redis.call('HINCRBY', stats, 'unexpected', 1)
        return {'unexpected'}
    end
    redis.call('HSET', req, 'f:' .. key, fragment)
    local pending = redis.call('HINCRBY', req, 'pending', -1)
    if pending <= 0 then return {'closed_now', close(req, id, 'all_sources', keep, lease)} end
    return {'recorded'}

elseif command == 'sweep' then
    -- ARGV: limit, keep_ms, lease_ms. Returns {now, next_due_ms or '', {kind, id, fields}...}
    local limit, keep, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
    local out = {}
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', deadlines, '-inf', now, 'LIMIT', 0, limit)) do
        redis.call('ZREM', deadlines, id)
        local key = req .. id
        if redis.call('EXISTS', key) == 1 and not redis.call('ZSCORE', closed, id) then
            table.insert(out, {'deadline', id, close(key, id, 'deadline', keep, lease)})
        end
    end
    -- A replica that closed a request and died before publishing it left it here; publish it again.
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', outbox, '-inf', now, 'LIMIT', 0, limit)) do
        local key = req .. id
        if redis.call('EXISTS', key) == 1 then
            redis.call('ZADD', outbox, now + lease, id)
            table.insert(out, {'redeliver', id, redis.call('HGETALL', key)})
        else
            redis.call('ZREM', outbox, id)
        end
    end
    redis.call('ZREMRANGEBYSCORE', closed, '-inf', now)
    local next_due = ''
    local first = redis.call('ZRANGE', deadlines, 0, 0, 'WITHSCORES')
    if first[2] then next_due = first[2] end
    local first_lease = redis.call('ZRANGE', outbox, 0, 0, 'WITHSCORES')
    if first_lease[2] and (next_due == '' or tonumber(first_lease[2]) < tonumber(next_due)) then
        next_due = first_lease[2]
    end
    return {tostring(now), next_due, out}

elseif command == 'finish' then
    -- ARGV: id. The result is published: nothing of the request stays behind.
    redis.call('DEL', req)
    redis.call('ZREM', outbox, ARGV[2])
    return {'finished'}
end

return redis.error_reply('unknown command ' .. tostring(command))
