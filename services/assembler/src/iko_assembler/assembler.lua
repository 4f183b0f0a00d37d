-- The assembler's request state, changed only here so that every change is atomic across replicas.
--
-- KEYS[1] deadlines  zset  request id -> deadline (ms)           shared by all requests
-- KEYS[2] closed     zset  request id -> forget-after (ms)        shared; tells late and duplicate apart
-- KEYS[3] outbox     zset  request id -> lease expiry (ms)        closed but not yet known to be published
-- KEYS[4] stats      hash  counters (late, duplicate, unexpected)
-- KEYS[5] request    hash  one request (for 'sweep' and 'finish': the prefix of request keys), fields:
--     meta, deadline           the request as registered
--     stream                   the reply queue fragments are forwarded to, '' when nobody streams
--     pending                  expected fragments not yet arrived + expansions not yet done
--     e:<key>  q:<key>         an expected fragment and what it is (source, relation branch)
--     f:<key>                  an arrived fragment
--     x:<key>  xd:<key>        the fragment at <key> starts relations / they have been expanded
--     b:<branch>  d:<token>    a relation branch; a (source, operation, identifier) already asked
--     tr:<note>                a relation whose selection was cut at its fan-out limit
--     seq, closed_by, closed_at
-- ARGV[1] command: register | record | extend | sweep | renew | finish
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

local function is_closed(id)
    return redis.call('ZSCORE', closed, id)
end

-- Add the follow-ups of the fragment at `parent` (its relations' expansion) to what the request expects.
-- ARGV from `at`: n, then n x (key, desc, dedup_token, expanding 0|1), then b, b x (branch, json), then r,
-- r x note. Returns {'extended', accepted keys}, {'closed_now', fields} or {'duplicate', {}}.
local function apply_extend(id, parent, keep, lease, at)
    if redis.call('HSETNX', req, 'xd:' .. parent, 1) == 0 then return {'duplicate', {}} end
    local n = tonumber(ARGV[at])
    local accepted, added = {}, 0
    for i = 0, n - 1 do
        local c = at + 1 + 4 * i
        local key, desc, token, expanding = ARGV[c], ARGV[c + 1], ARGV[c + 2], ARGV[c + 3]
        -- The same source, operation and identifier is asked once per request: relations never cycle.
        if token == '' or redis.call('HSETNX', req, 'd:' .. token, 1) == 1 then
            redis.call('HSET', req, 'e:' .. key, 1, 'q:' .. key, desc)
            added = added + 1
            if expanding == '1' then
                redis.call('HSET', req, 'x:' .. key, 1)
                added = added + 1
            end
            table.insert(accepted, key)
        end
    end
    local b_at = at + 1 + 4 * n
    local b = tonumber(ARGV[b_at])
    for i = 0, b - 1 do
        redis.call('HSET', req, 'b:' .. ARGV[b_at + 1 + 2 * i], ARGV[b_at + 2 + 2 * i])
    end
    local r_at = b_at + 1 + 2 * b
    for i = 1, tonumber(ARGV[r_at]) do
        redis.call('HSET', req, 'tr:' .. ARGV[r_at + i], 1)
    end
    -- The parent's expansion is done: its token goes, the follow-ups' fragments (and expansions) come in.
    local pending = redis.call('HINCRBY', req, 'pending', added - 1)
    if pending <= 0 then return {'closed_now', close(req, id, 'all_sources', keep, lease)} end
    return {'extended', accepted}
end

if command == 'register' then
    -- ARGV: id, meta, deadline_ms, grace_ms, keep_ms, lease_ms, stream, n, key1..keyN, desc1..descN,
    --       m, expanding1..expandingM, t, token1..tokenT
    local id, meta = ARGV[2], ARGV[3]
    local deadline, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
    local keep, lease, stream = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
    local n = tonumber(ARGV[9])
    if is_closed(id) then return {'closed'} end
    if redis.call('HEXISTS', req, 'meta') == 1 then return {'duplicate'} end
    redis.call('HSET', req, 'meta', meta, 'deadline', deadline, 'stream', stream)
    local pending = 0
    for i = 1, n do
        local key = ARGV[9 + i]
        redis.call('HSET', req, 'e:' .. key, 1, 'q:' .. key, ARGV[9 + n + i])
        -- A fragment may have beaten its request here: it counts as already arrived.
        if redis.call('HEXISTS', req, 'f:' .. key) == 0 then pending = pending + 1 end
    end
    local m_at = 10 + 2 * n
    local expand_now = {}
    for i = 1, tonumber(ARGV[m_at]) do
        local key = ARGV[m_at + i]
        redis.call('HSET', req, 'x:' .. key, 1)
        pending = pending + 1
        local early = redis.call('HGET', req, 'f:' .. key)
        if early then table.insert(expand_now, {key, early}) end
    end
    -- The root queries are asked already: a relation leading back to them must not ask them again. Marked
    -- before any expansion (an early fragment's too), and not counted: the roots are expected above.
    local t_at = m_at + 1 + tonumber(ARGV[m_at])
    for i = 1, tonumber(ARGV[t_at]) do
        redis.call('HSET', req, 'd:' .. ARGV[t_at + i], 1)
    end
    redis.call('HSET', req, 'pending', pending)
    redis.call('PEXPIRE', req, math.max(deadline - now, 0) + grace)
    if pending == 0 then return {'closed_now', close(req, id, 'all_sources', keep, lease)} end
    if now >= deadline then return {'closed_now', close(req, id, 'deadline', keep, lease)} end
    redis.call('ZADD', deadlines, deadline, id)
    return {'registered', expand_now}

elseif command == 'record' then
    -- ARGV: id, key, fragment, fragment_deadline_ms, grace_ms, keep_ms, lease_ms, then optionally '1' and the
    -- fragment's expansion from ARGV[10] (see apply_extend), computed by a replica that knows the relations.
    -- Returns {outcome, seq, stream, payload}: payload is the request's fields when it closed, the accepted
    -- follow-up keys when it was expanded here, the request's meta when the fragment starts relations that
    -- the caller must still expand.
    local id, key, fragment = ARGV[2], ARGV[3], ARGV[4]
    local deadline, grace = tonumber(ARGV[5]), tonumber(ARGV[6])
    local keep, lease = tonumber(ARGV[7]), tonumber(ARGV[8])
    if is_closed(id) then
        redis.call('HINCRBY', stats, 'late', 1)
        return {'late', 0, '', false}
    end
    local registered = redis.call('HEXISTS', req, 'meta') == 1
    if now >= deadline then
        -- Past the deadline nothing more counts; close now rather than wait for the sweep.
        redis.call('HINCRBY', stats, 'late', 1)
        if registered then return {'closed_now', 0, '', close(req, id, 'deadline', keep, lease)} end
        return {'late', 0, '', false}
    end
    if redis.call('HEXISTS', req, 'f:' .. key) == 1 then
        -- A redelivery after a replica died between recording and expanding: expand now.
        if registered and redis.call('HEXISTS', req, 'x:' .. key) == 1
            and redis.call('HEXISTS', req, 'xd:' .. key) == 0 then
            return {'expand', 0, '', redis.call('HGET', req, 'meta')}
        end
        redis.call('HINCRBY', stats, 'duplicate', 1)
        return {'duplicate', 0, '', false}
    end
    if not registered then
        redis.call('HSET', req, 'f:' .. key, fragment)
        redis.call('PEXPIRE', req, deadline - now + grace)
        return {'early', 0, '', false}
    end
    if redis.call('HEXISTS', req, 'e:' .. key) == 0 then
        redis.call('HINCRBY', stats, 'unexpected', 1)
        return {'unexpected', 0, '', false}
    end
    redis.call('HSET', req, 'f:' .. key, fragment)
    local seq = redis.call('HINCRBY', req, 'seq', 1)
    local stream = redis.call('HGET', req, 'stream') or ''
    local pending = redis.call('HINCRBY', req, 'pending', -1)
    if redis.call('HEXISTS', req, 'x:' .. key) == 1 then
        if ARGV[9] == '1' then
            local extended = apply_extend(id, key, keep, lease, 10)
            if extended[1] == 'closed_now' then return {'closed_now', seq, stream, extended[2]} end
            return {'expanded', seq, stream, extended[2]}
        end
        return {'expand', seq, stream, redis.call('HGET', req, 'meta')}
    end
    if pending <= 0 then return {'closed_now', seq, stream, close(req, id, 'all_sources', keep, lease)} end
    return {'recorded', seq, stream, false}

elseif command == 'extend' then
    -- ARGV: id, parent_key, keep_ms, lease_ms, then the expansion (see apply_extend) from ARGV[6].
    -- Adds the follow-ups of one fragment to what the request expects; returns the keys to ask for.
    local id, parent = ARGV[2], ARGV[3]
    local keep, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
    if is_closed(id) then return {'closed', {}} end
    if redis.call('HEXISTS', req, 'meta') == 0 then return {'gone', {}} end
    return apply_extend(id, parent, keep, lease, 6)

elseif command == 'sweep' then
    -- ARGV: limit, keep_ms, lease_ms. Returns {now, next_due_ms or '', {kind, id, fields}...}
    local limit, keep, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
    local out = {}
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', deadlines, '-inf', now, 'LIMIT', 0, limit)) do
        redis.call('ZREM', deadlines, id)
        local key = req .. id
        if redis.call('EXISTS', key) == 1 and not is_closed(id) then
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
            -- Its data expired (deadline + grace) before anybody published it: gone, and said so by the caller.
            redis.call('ZREM', outbox, id)
            table.insert(out, {'dropped', id, {}})
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

elseif command == 'renew' then
    -- ARGV: lease_ms, id1..idN. The replica that holds these (closed them, or took them from the outbox) is
    -- alive: their leases start again. One no longer in the outbox (forgotten meanwhile) stays out of it.
    local lease = tonumber(ARGV[2])
    local renewed = 0
    for i = 3, #ARGV do
        renewed = renewed + redis.call('ZADD', outbox, 'XX', 'CH', now + lease, ARGV[i])
    end
    return {'renewed', renewed}

elseif command == 'finish' then
    -- ARGV: id1..idN (KEYS[5]: the prefix of request keys). Their results are published: nothing of those
    -- requests stays behind. Many at once: a replica under load forgets what it published in one call.
    for i = 2, #ARGV do
        redis.call('DEL', req .. ARGV[i])
        redis.call('ZREM', outbox, ARGV[i])
    end
    return {'finished'}
end

return redis.error_reply('unknown command ' .. tostring(command))
