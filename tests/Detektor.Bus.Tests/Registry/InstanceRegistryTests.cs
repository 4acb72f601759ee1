using Detektor.Bus.Redis;
using Detektor.Bus.Registry;
using Detektor.Core;
using Detektor.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Bus.Tests.Registry;

/// <summary>The instance registry (discovery): in process with a fake clock, and in a real Redis with a real TTL.</summary>
public sealed class InstanceRegistryTests
{
    private static InstanceRegistration Instance(string id, params string[] roles) =>
        new(id, "detektor-" + string.Join('-', roles), roles, $"http://10.0.0.{id.Length}:8080", "0.1.0");

    [Fact]
    public async Task InProcess_RegisterHeartbeatExpire_ListsOnlyLiveInstancesAndHeartbeatAfterExpiryIsFalse()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-11-23T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var sut = new InProcessInstanceRegistry(Options.Create(new RegistryOptions { TtlSeconds = 15 }), time);
        var ct = TestContext.Current.CancellationToken;

        await sut.RegisterAsync(Instance("b", "process"), ct);
        await sut.RegisterAsync(Instance("a", "store", "api"), ct);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(await sut.HeartbeatAsync("a", ct));
        time.Advance(TimeSpan.FromSeconds(10)); // b: 20 s without a heartbeat; a: 10 s

        var list = await sut.ListAsync(ct);

        var a = Assert.Single(list);
        Assert.Equal(("a", "detektor-store-api", "http://10.0.0.1:8080"), (a.Id, a.Service, a.Url));
        Assert.Equal(["store", "api"], a.Roles);
        Assert.Equal(time.GetUtcNow() - TimeSpan.FromSeconds(10), a.LastHeartbeat);
        Assert.False(await sut.HeartbeatAsync("b", ct));
        await sut.UnregisterAsync("a", ct);
        Assert.Empty(await sut.ListAsync(ct));
    }

    [Fact]
    public async Task Redis_RegisterListUnregisterAndExpiry_FollowTheTtl()
    {
        await using var redis = await RedisServer.StartAsync();
        var redisOptions = Options.Create(new RedisBusOptions { Configuration = redis.Endpoint });
        await using var connection = new RedisConnection(redisOptions, new ServiceIdentity("test"));
        var sut = new RedisInstanceRegistry(connection, redisOptions, Options.Create(new RegistryOptions { TtlSeconds = 1 }));
        var ct = TestContext.Current.CancellationToken;

        await sut.RegisterAsync(Instance("p", "process"), ct);
        await sut.RegisterAsync(Instance("cap", "capture"), ct);
        var list = await sut.ListAsync(ct);
        Assert.Equal(["cap", "p"], list.Select(i => i.Id));
        Assert.Equal(["capture"], list[0].Roles);
        Assert.Equal("http://10.0.0.3:8080", list[0].Url);
        Assert.True(list[0].LastHeartbeat >= list[0].RegisteredAt);

        await sut.UnregisterAsync("cap", ct);
        Assert.Equal(["p"], (await sut.ListAsync(ct)).Select(i => i.Id));

        // No heartbeat: gone after the 1 s TTL, and a late heartbeat says so (the owner registers again).
        await Eventually.WaitAsync(async () => (await sut.ListAsync(ct)).Count, n => n == 0, TimeSpan.FromSeconds(30), "the instance to expire");
        Assert.False(await sut.HeartbeatAsync("p", ct));
    }
}
