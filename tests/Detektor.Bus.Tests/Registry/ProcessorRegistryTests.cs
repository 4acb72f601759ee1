using Detektor.Bus.Registry;
using Detektor.Testing;

namespace Detektor.Bus.Tests.Registry;

/// <summary>The registry's promises, against the in-process and the Redis implementation.</summary>
public abstract class ProcessorRegistryTests
{
    protected abstract Task<BusHost> StartAsync(Dictionary<string, string?> settings);

    private Task<BusHost> StartAsync() => StartAsync(new() { ["Detektor:Bus:Registry:TtlSeconds"] = "1" });

    private static ProcessorRegistration Registration(string id, params string[] capabilities) =>
        new(id, "detektor-process", "bus", capabilities, 2, "processors");

    [Fact]
    public async Task Register_NewProcessor_ListedWithCapabilitiesCapacityAndGenerationOne()
    {
        await using var host = await StartAsync();
        var sut = host.Registry;

        await sut.RegisterAsync(Registration("p1", "objects", "faces"), TestContext.Current.CancellationToken);
        await sut.RegisterAsync(Registration("p0", "sample"), TestContext.Current.CancellationToken);
        var list = await sut.ListAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["p0", "p1"], list.Select(p => p.Id));
        var p1 = list[1];
        Assert.Equal(["objects", "faces"], p1.Capabilities);
        Assert.Equal(2, p1.Capacity);
        Assert.Equal("processors", p1.Group);
        Assert.Equal("bus", p1.Kind);
        Assert.Equal(1, p1.Generation);
        Assert.True(p1.ExpiresAt > p1.LastHeartbeat);
    }

    [Fact]
    public async Task Heartbeat_KeepsTheProcessorAliveAndRecordsItsLoad()
    {
        await using var host = await StartAsync();
        var sut = host.Registry;
        await sut.RegisterAsync(Registration("p1", "sample"), TestContext.Current.CancellationToken);

        for (var i = 0; i < 6; i++)
        {
            await Task.Delay(400, TestContext.Current.CancellationToken); // 2.4 s in all: more than twice the TTL
            Assert.True(await sut.HeartbeatAsync("p1", new ProcessorLoad(1, i), TestContext.Current.CancellationToken));
        }

        var p1 = Assert.Single(await sut.ListAsync(TestContext.Current.CancellationToken));
        Assert.Equal(1, p1.InFlight);
        Assert.Equal(5, p1.Processed);
        Assert.Equal(0.5, p1.Load);
    }

    [Fact]
    public async Task List_ProcessorStopsHeartbeating_ExpiresAndHeartbeatSaysRegisterAgain()
    {
        await using var host = await StartAsync();
        var sut = host.Registry;
        await sut.RegisterAsync(Registration("dead", "sample"), TestContext.Current.CancellationToken);
        await sut.RegisterAsync(Registration("alive", "sample"), TestContext.Current.CancellationToken);

        await Eventually.WaitAsync(
            async () =>
            {
                await sut.HeartbeatAsync("alive", default, TestContext.Current.CancellationToken);
                return await sut.ListAsync(TestContext.Current.CancellationToken);
            },
            list => list.Count == 1,
            TimeSpan.FromSeconds(30),
            "the dead processor to expire");

        Assert.Equal("alive", Assert.Single(await sut.ListAsync(TestContext.Current.CancellationToken)).Id);
        Assert.False(await sut.HeartbeatAsync("dead", default, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Register_SameIdAgain_ReplacesTheEntryWithTheNextGeneration()
    {
        await using var host = await StartAsync();
        var sut = host.Registry;
        await sut.RegisterAsync(Registration("p1", "objects"), TestContext.Current.CancellationToken);
        await sut.HeartbeatAsync("p1", new ProcessorLoad(2, 100), TestContext.Current.CancellationToken);

        // The process restarts (same id) with another chain.
        await sut.RegisterAsync(Registration("p1", "faces"), TestContext.Current.CancellationToken);

        var p1 = Assert.Single(await sut.ListAsync(TestContext.Current.CancellationToken));
        Assert.Equal(2, p1.Generation);
        Assert.Equal(["faces"], p1.Capabilities);
        Assert.Equal(0, p1.Processed);
        Assert.Equal(0, p1.InFlight);
    }

    [Fact]
    public async Task Unregister_RemovesTheProcessorAtOnce()
    {
        await using var host = await StartAsync();
        var sut = host.Registry;
        await sut.RegisterAsync(Registration("p1", "sample"), TestContext.Current.CancellationToken);

        await sut.UnregisterAsync("p1", TestContext.Current.CancellationToken);

        Assert.Empty(await sut.ListAsync(TestContext.Current.CancellationToken));
    }
}

public sealed class InProcessProcessorRegistryTests : ProcessorRegistryTests
{
    protected override Task<BusHost> StartAsync(Dictionary<string, string?> settings) => BusHost.StartAsync(settings);
}

public sealed class RedisProcessorRegistryTests(RedisFixture redis) : ProcessorRegistryTests, IClassFixture<RedisFixture>
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
