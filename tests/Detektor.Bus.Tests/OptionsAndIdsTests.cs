using Detektor.Bus.Abstractions;
using Detektor.Bus.Redis;
using Detektor.Core.Resilience;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Tests;

public sealed class OptionsAndIdsTests
{
    [Fact]
    public async Task Start_WatermarksOutOfOrderAndBadRoute_FailsNamingEachKey()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Backpressure:LowWatermark"] = "0.9",
            ["Detektor:Bus:Backpressure:WarnWatermark"] = "0.8",
            ["Detektor:Bus:Backpressure:HighWatermark"] = "0.7",
        }));

        Assert.Contains(ex.Failures, f => f.StartsWith("Detektor:Bus:Backpressure:LowWatermark:", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Detektor:Bus:Backpressure:WarnWatermark:", StringComparison.Ordinal));

        var routes = await Assert.ThrowsAsync<OptionsValidationException>(() => BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Routes:door"] = "Faces!",
        }));
        Assert.Contains(routes.Failures, f => f.StartsWith("Detektor:Bus:Routes:door: 'Faces!' is not a capability name", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_RedisTransportWithUnparsableConfigurationOrUnknownEncodingOrReader_FailsNamingTheKey()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Transport"] = "redis",
            ["Detektor:Bus:Redis"] = ",,,",
            ["Detektor:Bus:Redis:PixelEncoding"] = "png",
            ["Detektor:Bus:Redis:ReadConnection"] = "socket",
        }));

        Assert.Contains(ex.Failures, f => f.StartsWith("Detektor:Bus:Redis:Configuration:", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Detektor:Bus:Redis:PixelEncoding: 'png' is not allowed", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.StartsWith("Detektor:Bus:Redis:ReadConnection: 'socket' is not allowed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Start_LifecycleSpillOutOfRangeAndUnknownWhenFull_FailsWithOneLinePerKey()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Transport"] = "redis",
            ["Detektor:Bus:Redis"] = "127.0.0.1:6379",
            ["Detektor:Bus:Redis:LifecycleSpill:MaxMegabytes"] = "0",
            ["Detektor:Bus:Redis:LifecycleSpill:WhenFull"] = "block",
        }));

        Assert.Equal(2, ex.Failures.Count());
        Assert.Contains("Detektor:Bus:Redis:LifecycleSpill:MaxMegabytes: 0 is out of range; allowed 1 to 1048576.", ex.Failures);
        Assert.Contains("Detektor:Bus:Redis:LifecycleSpill:WhenFull: 'block' is not allowed; use 'wait' or 'drop'.", ex.Failures);
    }

    [Fact]
    public async Task Start_RedisTransport_SpillUnderTheDataDirectoryAndTheRedisBreakerListed()
    {
        using var dataDir = new TempDirectory("detektor-spill-options");
        await using var host = await BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Transport"] = "redis",
            ["Detektor:Bus:Redis"] = "127.0.0.1:1",
            ["Detektor:DataDir"] = dataDir.Path,
        });

        var spill = host.Services.GetRequiredService<RedisFrameBus>().Spill;

        Assert.NotNull(spill);
        Assert.Equal(Path.Combine(dataDir.Path, "lifecycle-spill"), spill.DirectoryPath);
        Assert.Contains(host.Services.GetRequiredService<CircuitBreakers>().Snapshot(), b => b.Name == RedisFrameBus.BreakerName && b.State == BreakerState.Closed);
    }

    [Fact]
    public async Task Start_SpillDisabled_NoSpill()
    {
        await using var host = await BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Transport"] = "redis",
            ["Detektor:Bus:Redis"] = "127.0.0.1:1",
            ["Detektor:Bus:Redis:LifecycleSpill:Enabled"] = "false",
        });

        Assert.Null(host.Services.GetRequiredService<RedisFrameBus>().Spill);
    }

    [Fact]
    public async Task Start_RedisShortForm_TheSectionValueIsTheConnection()
    {
        await using var host = await BusHost.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:Transport"] = "redis",
            ["Detektor:Bus:Redis"] = "10.1.2.3:6390,password=secret",
        });

        var options = host.Services.GetRequiredService<IOptions<RedisBusOptions>>().Value;

        Assert.Equal("10.1.2.3:6390,password=secret", options.Configuration);
        Assert.Equal("10.1.2.3:6390", host.Services.GetRequiredService<RedisConnection>().Endpoints);
    }

    [Fact]
    public void StableEventId_SameTrimmedEntry_SameIdAndTimeOrdered()
    {
        var a = RedisFrameBus.StableEventId(1_795_000_000_000, "detektor:frames\n1795000000000-0\nprocessors");
        var again = RedisFrameBus.StableEventId(1_795_000_000_000, "detektor:frames\n1795000000000-0\nprocessors");
        var other = RedisFrameBus.StableEventId(1_795_000_000_000, "detektor:frames\n1795000000000-1\nprocessors");
        var later = RedisFrameBus.StableEventId(1_795_000_000_001, "detektor:frames\n1795000000000-0\nprocessors");

        Assert.Equal(a, again);
        Assert.NotEqual(a, other);
        Assert.Equal(7, a.Version);
        Assert.True(string.CompareOrdinal(a.ToString(), later.ToString()) < 0);
    }

    [Theory]
    [InlineData("faces", true)]
    [InlineData("object-detection_2", true)]
    [InlineData("Faces", false)]
    [InlineData("", false)]
    [InlineData("a.b", false)]
    public void FramesFor_CapabilityName_ValidatedAndNamedFramesDotCapability(string capability, bool valid)
    {
        Assert.Equal(valid, Topics.IsCapabilityName(capability));
        if (valid)
        {
            var topic = Topics.FramesFor(capability);
            Assert.Equal("frames." + capability, topic.Name);
            Assert.Same(topic, Topics.FramesFor(capability));
            Assert.Equal(TopicDurability.Perishable, topic.Durability);
        }
        else
        {
            Assert.Throws<ArgumentException>(() => Topics.FramesFor(capability));
        }
    }

    [Fact]
    public void PerishableFill_FullestPerishableTopic_IgnoresDurableOnes()
    {
        var snapshot = new BusSnapshot("test", [
            new TopicSnapshot("frames", TopicDurability.Perishable, 16, 64, 0, 0, 0, 0, 0, new Dictionary<string, long>(), []),
            new TopicSnapshot("frames.faces", TopicDurability.Perishable, 30, 40, 0, 0, 0, 0, 0, new Dictionary<string, long>(), []),
            new TopicSnapshot("lifecycle", TopicDurability.Durable, 99, 100, 0, 0, 0, 0, 0, new Dictionary<string, long>(), []),
        ]);

        Assert.Equal(0.75, snapshot.PerishableFill());
    }
}
