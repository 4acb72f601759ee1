namespace Detektor.Bus.Redis;

/// <summary>
/// The Lua scripts that make the multi-key steps of the Redis bus atomic. Their text is part of the wire contract
/// (docs/bus.md): a producer in another language publishes frames with <see cref="PublishFrame"/>.
/// </summary>
public static class RedisScripts
{
    /// <summary>Shared helpers: compare two stream ids "ms-seq".</summary>
    private const string Compare = """
        local function cmp(a, b)
          local am, as = string.match(a, '^(%d+)-(%d+)$')
          local bm, bs = string.match(b, '^(%d+)-(%d+)$')
          am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
          if am ~= bm then if am < bm then return -1 else return 1 end end
          if as ~= bs then if as < bs then return -1 else return 1 end end
          return 0
        end
        local function nextId(id)
          local ms, seq = string.match(id, '^(%d+)-(%d+)$')
          return ms .. '-' .. string.format('%d', tonumber(seq) + 1)
        end
        local function field(list, name)
          for i = 1, #list, 2 do if list[i] == name then return list[i + 1] end end
          return nil
        end
        """;

    /// <summary>
    /// Publishes a frame: <c>XADD frames MAXLEN ~ n</c>, plus its index entry (same id, no pixels). When the
    /// <c>MAXLEN ~</c> trim removed entries, the index tells which: a trimmed entry a group had not been handed yet is
    /// written to the trim journal (becomes a <c>dropped</c> event, reason <c>queue_full</c>); one a consumer still held
    /// is remembered in the orphans hash (accounted if that consumer never acknowledges it).
    /// KEYS: stream, index, orphans, journal, topic drop stats. ARGV: maxlen, frame_id, camera_id, traceparent, then field/value pairs.
    /// Returns { entry id, trimmed and undelivered, trimmed while pending }.
    /// </summary>
    public const string PublishFrame = Compare + "\n" + """
        local before = redis.call('XLEN', KEYS[1])
        local fields = {}
        for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
        redis.call('XADD', KEYS[2], id, 'frame_id', ARGV[2], 'camera_id', ARGV[3], 'traceparent', ARGV[4])
        local after = redis.call('XLEN', KEYS[1])
        local trimmed = before + 1 - after
        local victims
        if trimmed > 0 then
          victims = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', trimmed)
        elseif redis.call('XLEN', KEYS[2]) ~= after then
          -- Out of step (an entry added without this script): the victims are the index entries older than the stream.
          local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
          victims = redis.call('XRANGE', KEYS[2], '-', '(' .. first[1][1])
        end
        if victims == nil or #victims == 0 then return {id, 0, 0} end
        local firstVictim, lastVictim = victims[1][1], victims[#victims][1]
        local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
        local undelivered, orphaned = 0, 0
        local function journal(v, group, state)
          local f = v[2]
          redis.call('XADD', KEYS[4], '*', 'stream', KEYS[1], 'entry', v[1], 'group', group, 'state', state,
            'frame_id', field(f, 'frame_id') or '', 'camera_id', field(f, 'camera_id') or '', 'traceparent', field(f, 'traceparent') or '')
        end
        if #groups == 0 then
          for _, v in ipairs(victims) do journal(v, '', 'undelivered'); undelivered = undelivered + 1 end
        end
        for _, g in ipairs(groups) do
          local name, last, pending = field(g, 'name'), field(g, 'last-delivered-id'), tonumber(field(g, 'pending'))
          local held = {}
          if pending > 0 and cmp(firstVictim, last) <= 0 then
            for _, p in ipairs(redis.call('XPENDING', KEYS[1], name, firstVictim, lastVictim, #victims)) do held[p[1]] = true end
          end
          for _, v in ipairs(victims) do
            if cmp(v[1], last) > 0 then
              journal(v, name, 'undelivered'); undelivered = undelivered + 1
            elseif held[v[1]] then
              local f = v[2]
              redis.call('HSET', KEYS[3], name .. ' ' .. v[1],
                (field(f, 'frame_id') or '') .. '\n' .. (field(f, 'camera_id') or '') .. '\n' .. (field(f, 'traceparent') or ''))
              orphaned = orphaned + 1
            end
          end
        end
        redis.call('XTRIM', KEYS[2], 'MINID', nextId(lastVictim))
        if undelivered > 0 then redis.call('HINCRBY', KEYS[5], 'queue_full', undelivered) end
        return {id, undelivered, orphaned}
        """;

    /// <summary>
    /// Reclaims deliveries idle longer than the claim time (<c>XAUTOCLAIM</c>) and reads their delivery counts. A frame
    /// trimmed while its consumer held it (the consumer is gone, or it would not be idle) moves from the orphans hash to
    /// the trim journal. KEYS: stream, orphans, journal. ARGV: group, consumer, min idle ms, start id, count.
    /// Returns { next start id, claimed entries, their delivery counts, orphans journaled, entries found deleted }.
    /// </summary>
    public const string Reclaim = """
        local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
        local claimed = r[2]
        local counts = {}
        if #claimed > 0 then
          local map = {}
          local pend = redis.call('XPENDING', KEYS[1], ARGV[1], claimed[1][1], claimed[#claimed][1], 100000, ARGV[2])
          for _, p in ipairs(pend) do map[p[1]] = p[4] end
          for i, e in ipairs(claimed) do counts[i] = map[e[1]] or 1 end
        end
        local orphaned = 0
        for _, id in ipairs(r[3] or {}) do
          local key = ARGV[1] .. ' ' .. id
          local o = redis.call('HGET', KEYS[2], key)
          if o then
            local frameId, camera, trace = string.match(o, '^([^\n]*)\n([^\n]*)\n([^\n]*)$')
            redis.call('XADD', KEYS[3], '*', 'stream', KEYS[1], 'entry', id, 'group', ARGV[1], 'state', 'pending',
              'frame_id', frameId or '', 'camera_id', camera or '', 'traceparent', trace or '')
            redis.call('HDEL', KEYS[2], key)
            orphaned = orphaned + 1
          end
        end
        return {r[1], claimed, counts, orphaned, #(r[3] or {})}
        """;

    /// <summary>
    /// Moves one pending entry to its topic's dead letters: copies its fields plus the <c>dl_*</c> fields, acknowledges
    /// it in the group and forgets any orphan record. Nothing happens when the group no longer holds it (someone else
    /// settled it). KEYS: stream, dead-letter stream, orphans. ARGV: group, id, reason, attempts, now ms, dead-letter maxlen (0 = keep all).
    /// Returns the dead letter's id, or false.
    /// </summary>
    public const string DeadLetter = """
        local e = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
        redis.call('HDEL', KEYS[3], ARGV[1] .. ' ' .. ARGV[2])
        if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then return false end
        local args = {KEYS[2]}
        if tonumber(ARGV[6]) > 0 then args[#args + 1] = 'MAXLEN'; args[#args + 1] = '~'; args[#args + 1] = ARGV[6] end
        args[#args + 1] = '*'
        if #e > 0 then for _, v in ipairs(e[1][2]) do args[#args + 1] = v end end
        for _, v in ipairs({'dl_reason', ARGV[3], 'dl_attempts', ARGV[4], 'dl_source_id', ARGV[2], 'dl_group', ARGV[1], 'dl_at', ARGV[5]}) do
          args[#args + 1] = v
        end
        return redis.call('XADD', unpack(args))
        """;

    /// <summary>
    /// Hands deliveries back at once (graceful stop, nack): marks them idle for longer than the claim time so the next
    /// <c>XAUTOCLAIM</c> of any consumer takes them. KEYS: stream. ARGV: group, consumer, idle ms, ids…
    /// </summary>
    public const string Release = """
        local args = {KEYS[1], ARGV[1], ARGV[2], 0}
        for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
        if #args == 4 then return 0 end
        args[#args + 1] = 'IDLE'; args[#args + 1] = ARGV[3]; args[#args + 1] = 'JUSTID'
        return #redis.call('XCLAIM', unpack(args))
        """;

    /// <summary>
    /// Acknowledges frames and forgets their orphan records. The orphans hash is empty unless a trim removed frames a
    /// consumer still held, so it is looked at only when it exists (one HDEL per id cost the bus's frame reads at 1 KiB).
    /// KEYS: stream, orphans. ARGV: group, ids…
    /// </summary>
    public const string AckFrames = """
        local n = redis.call('XACK', KEYS[1], unpack(ARGV))
        if redis.call('EXISTS', KEYS[2]) == 1 then
          local fields = {}
          for i = 2, #ARGV do fields[#fields + 1] = ARGV[1] .. ' ' .. ARGV[i] end
          redis.call('HDEL', KEYS[2], unpack(fields))
        end
        return n
        """;
}
