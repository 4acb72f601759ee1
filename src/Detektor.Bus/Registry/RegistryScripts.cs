using StackExchange.Redis;

namespace Detektor.Bus.Registry;

/// <summary>Lua shared by the Redis registries (processors, instances): Redis server time, and listing the live hashes of an expiry index.</summary>
internal static class RegistryScripts
{
    /// <summary>Defines <c>now</c>: Redis server time in unix ms (hosts with skewed clocks agree on who expired).</summary>
    public const string Now = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        """;

    // KEYS: index zset (ids scored by expiry). ARGV: key prefix of the hashes. Drops expired ids; returns the live hashes.
    private const string ListScript = Now + "\n" + """
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
          local h = redis.call('HGETALL', ARGV[1] .. id)
          if #h > 0 then out[#out + 1] = h else redis.call('ZREM', KEYS[1], id) end
        end
        return out
        """;

    /// <summary>The live entries of <paramref name="index"/> as field maps of their hashes (<paramref name="hashPrefix"/> + id).</summary>
    public static async Task<IReadOnlyList<Dictionary<string, string>>> ListHashesAsync(IDatabase db, string index, string hashPrefix, CancellationToken cancellationToken)
    {
        var result = await db.ScriptEvaluateAsync(ListScript, [index], [hashPrefix]).WaitAsync(cancellationToken);
        var list = new List<Dictionary<string, string>>();
        foreach (var entry in (RedisResult[])result!)
        {
            var fields = (RedisResult[])entry!;
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i + 1 < fields.Length; i += 2)
            {
                map[(string)fields[i]!] = (string?)fields[i + 1] ?? string.Empty;
            }

            list.Add(map);
        }

        return list;
    }
}
