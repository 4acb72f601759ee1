using Detektor.Core.Health;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Core.Tests.Hosting;

public sealed class HealthRegistryTests
{
    private sealed class Fixed(HealthStatus status) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(status));
    }

    [Fact]
    public void Register_ThenDisposeHandle_AddsAndRemovesTheCheckWithItsTags()
    {
        var sut = new HealthRegistry();
        var handle = sut.Register("camera:x", new Fixed(HealthStatus.Healthy), "camera");
        var registration = Assert.Single(sut.Snapshot());
        Assert.Equal("camera:x", registration.Name);
        Assert.Equal(["camera"], registration.Tags);
        handle.Dispose();
        Assert.Empty(sut.Snapshot());
        handle.Dispose();
        Assert.Equal(2, sut.Version);
    }

    [Fact]
    public void Dispose_OfAReplacedRegistration_LeavesTheNewOne()
    {
        var sut = new HealthRegistry();
        var old = sut.Register("loop:a", new Fixed(HealthStatus.Unhealthy));
        using var current = sut.Register("loop:a", new Fixed(HealthStatus.Healthy));
        old.Dispose();
        Assert.Single(sut.Snapshot());
        Assert.True(sut.Unregister("loop:a"));
        Assert.False(sut.Unregister("loop:a"));
    }
}
