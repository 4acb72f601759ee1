using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Core;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Resilience;
using Detektor.Storage.Writer;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Detektor.Storage.Tests.Writer;

/// <summary>
/// The store's circuit breaker against a real PostgreSQL that is stopped and started again. The memory bound is far
/// above what the test produces, so without the breaker nothing would be journaled: events in the journal while the
/// breaker is open show that it sends batches there at once instead of retrying the dead database.
/// </summary>
public sealed class StoreBreakerTests : IAsyncLifetime
{
    private readonly TempDirectory _data = new("detektor-breaker");
    private readonly FrameIdGenerator _ids = new(TimeProvider.System, 0x5eed);
    private readonly HashSet<Guid> _produced = [];
    private PostgresServer _server = null!;
    private string _connectionString = null!;
    private long _sequence;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await PostgresServer.StartAsync(cancellationToken: Ct);
        _connectionString = await _server.CreateDatabaseAsync(cancellationToken: Ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _data.Dispose();
    }

    [Fact]
    public async Task StoreOutbox_PostgresStopped_BreakerOpensJournalsAtOnceAndClosesAfterRestart()
    {
        using var host = BuildHost();
        await host.StartAsync(Ct);
        var bus = host.Services.GetRequiredService<IFrameBus>();
        var outbox = host.Services.GetRequiredService<StoreOutbox>();
        var sut = host.Services.GetRequiredService<CircuitBreakers>().Get(StoreOutbox.BreakerName);
        Assert.Equal(BreakerState.Closed, sut.State);

        await ProduceAsync(bus, 100);
        await Eventually.WaitAsync(() => CountAsync(), n => n == 100, TimeSpan.FromSeconds(60), "the first events stored");

        // The database goes away: failed writes open the breaker, and what comes now goes to the journal.
        await _server.StopAsync(Ct);
        await ProduceAsync(bus, 100);
        await Eventually.WaitAsync(() => Task.FromResult(sut.State), s => s == BreakerState.Open, TimeSpan.FromSeconds(60), "the store breaker open");
        await ProduceAsync(bus, 100);
        await Eventually.WaitAsync(() => Task.FromResult(outbox.Status), s => s.JournalEvents >= 200 && s.MemoryEvents == 0, TimeSpan.FromSeconds(60), "the outage's events journaled");
        Assert.True(outbox.Status.Outage);

        // It comes back: the next probe write closes the breaker and the journal is replayed.
        await _server.RestartAsync(Ct);
        await Eventually.WaitAsync(() => Task.FromResult((sut.State, outbox.Status.JournalEvents)), s => s == (BreakerState.Closed, 0), TimeSpan.FromSeconds(120), "the breaker closed and the journal replayed");
        await Eventually.WaitAsync(() => CountAsync(), n => n == 300, TimeSpan.FromSeconds(60), "every event stored");
        await host.StopAsync(Ct);

        Assert.Equal(300, await CountAsync("SELECT count(DISTINCT event_id) FROM frame_events"));
        Assert.Equal(_produced.Count, await CountAsync());
    }

    private async Task ProduceAsync(IFrameBus bus, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var id = _ids.Next("cam-1", ++_sequence);
            var metadata = new FrameMetadata { FrameId = id, CameraId = "cam-1", CaptureTime = id.Timestamp, Sequence = id.Sequence };
            var e = FrameEvent.Create(FrameEventType.Captured, metadata, Stages.Capture, "test", id.Timestamp);
            _produced.Add(e.EventId);
            await bus.PublishAsync(Topics.Lifecycle, e, Ct);
        }
    }

    private IHost BuildHost()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Detektor:DataDir"] = _data.Path,
            ["Detektor:Storage:Provider"] = "postgres",
            ["Detektor:Storage:PostgresConnectionString"] = _connectionString,
            ["Detektor:Storage:MemoryBufferEvents"] = "100000",
            ["Detektor:Storage:RetryDelayMs"] = "100",
            ["Detektor:Storage:BatchSize"] = "50",
            ["Detektor:Storage:Retention:Enabled"] = "false",
            ["Detektor:Resilience:Breakers:store:MinimumThroughput"] = "3",
            ["Detektor:Resilience:Breakers:store:FailureRatio"] = "1",
            ["Detektor:Resilience:Breakers:store:BreakDurationSeconds"] = "2",
        });
        builder.Services.AddSingleton(new ServiceIdentity("detektor-test"));
        builder.Services.AddMetrics();
        builder.AddInProcessBus();
        builder.AddEventStoreWriter();
        return builder.Build();
    }

    private async Task<long> CountAsync(string sql = "SELECT count(*) FROM frame_events")
    {
        try
        {
            return Convert.ToInt64(await PostgresServer.ScalarAsync(_connectionString, sql, Ct), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (NpgsqlException)
        {
            return -1;
        }
    }
}
