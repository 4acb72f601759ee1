using Detektor.Testing;

namespace Detektor.Bus.Tests.Conformance;

/// <summary>The conformance suite against Redis Streams (a real redis-server, AOF on, each test under its own key prefix).</summary>
public sealed class RedisFrameBusConformanceTests(RedisFixture redis) : FrameBusConformanceTests, IClassFixture<RedisFixture>
{
    protected override async Task<BusHost> StartAsync(Dictionary<string, string?> settings)
    {
        var all = BusHost.RedisSettings(await redis.ServerAsync());
        foreach (var (key, value) in settings)
        {
            all[key] = value;
        }

        return await BusHost.StartAsync(all);
    }
}
