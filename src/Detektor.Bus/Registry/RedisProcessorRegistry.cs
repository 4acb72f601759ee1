using System.Globalization;
using Detektor.Bus.Redis;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Registry;

/// <summary>
/// The registry in Redis, shared by every process: a hash per processor with a TTL (<c>{prefix}processor:{id}</c>) that
/// heartbeats renew, a sorted set of ids by expiry (<c>{prefix}processors</c>) for listing, and the generation of each id
/// (<c>{prefix}processors:generations</c>) so a restart shows as generation + 1. Times are Redis server time, so hosts
/// with skewed clocks agree on who expired.
/// </summary>
public sealed class RedisProcessorRegistry(RedisConnection connection, IOptions<RedisBusOptions> redisOptions, IOptions<RegistryOptions> options)
    : IProcessorRegistry
{
    // KEYS: processor hash, index zset, generations hash. ARGV: id, service, kind, capabilities, capacity, group, ttl ms.
    private const string RegisterScript = RegistryScripts.Now + "\n" + """
        local gen = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], 'id', ARGV[1], 'service', ARGV[2], 'kind', ARGV[3], 'capabilities', ARGV[4], 'capacity', ARGV[5],
          'group', ARGV[6], 'in_flight', 0, 'processed', 0, 'registered_at', now, 'last_heartbeat', now, 'ttl_ms', ARGV[7], 'generation', gen)
        redis.call('PEXPIRE', KEYS[1], ARGV[7])
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[7]), ARGV[1])
        return gen
        """;

    // KEYS: processor hash, index zset. ARGV: id, in flight, processed.
    private const string HeartbeatScript = RegistryScripts.Now + "\n" + """
        local ttl = redis.call('HGET', KEYS[1], 'ttl_ms')
        if not ttl then redis.call('ZREM', KEYS[2], ARGV[1]); return 0 end
        redis.call('HSET', KEYS[1], 'in_flight', ARGV[2], 'processed', ARGV[3], 'last_heartbeat', now)
        redis.call('PEXPIRE', KEYS[1], ttl)
        redis.call('ZADD', KEYS[2], now + tonumber(ttl), ARGV[1])
        return 1
        """;

    private readonly RedisKeys _keys = new(redisOptions.Value.KeyPrefix);

    public TimeSpan Ttl { get; } = TimeSpan.FromSeconds(options.Value.TtlSeconds);

    public async ValueTask RegisterAsync(ProcessorRegistration registration, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        await db.ScriptEvaluateAsync(
            RegisterScript,
            [_keys.Processor(registration.Id), _keys.Processors, _keys.Processors + ":generations"],
            [registration.Id, registration.Service, registration.Kind, string.Join(',', registration.Capabilities), registration.Capacity,
                registration.Group, (long)Ttl.TotalMilliseconds]).WaitAsync(cancellationToken);
    }

    public async ValueTask<bool> HeartbeatAsync(string id, ProcessorLoad load, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        var result = await db.ScriptEvaluateAsync(HeartbeatScript, [_keys.Processor(id), _keys.Processors], [id, load.InFlight, load.Processed])
            .WaitAsync(cancellationToken);
        return (long)result == 1;
    }

    public async ValueTask UnregisterAsync(string id, CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        var transaction = db.CreateTransaction();
        _ = transaction.KeyDeleteAsync(_keys.Processor(id));
        _ = transaction.SortedSetRemoveAsync(_keys.Processors, id);
        await transaction.ExecuteAsync().WaitAsync(cancellationToken);
    }

    public async ValueTask<IReadOnlyList<ProcessorInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var db = await connection.GetDatabaseAsync();
        var list = new List<ProcessorInfo>();
        foreach (var map in await RegistryScripts.ListHashesAsync(db, _keys.Processors, _keys.Processor(string.Empty), cancellationToken))
        {
            var heartbeat = Ms(map, "last_heartbeat");
            list.Add(new ProcessorInfo(
                map.GetValueOrDefault("id", "?"),
                map.GetValueOrDefault("service", "?"),
                map.GetValueOrDefault("kind", "bus"),
                map.GetValueOrDefault("capabilities", string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries),
                (int)Long(map, "capacity"),
                map.GetValueOrDefault("group", string.Empty),
                Long(map, "in_flight"),
                Long(map, "processed"),
                Ms(map, "registered_at"),
                heartbeat,
                heartbeat + TimeSpan.FromMilliseconds(Long(map, "ttl_ms")),
                Long(map, "generation")));
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return list;
    }

    private static long Long(Dictionary<string, string> map, string key) =>
        long.TryParse(map.GetValueOrDefault(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;

    private static DateTimeOffset Ms(Dictionary<string, string> map, string key) => DateTimeOffset.FromUnixTimeMilliseconds(Long(map, key));
}
