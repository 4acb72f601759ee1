using System.Diagnostics;
using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Core;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Resilience;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;
using Detektor.Storage.Writer;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Detektor.Storage.Tests.Writer;

/// <summary>
/// The store role against a PostgreSQL server that goes away in the middle of a run (<c>pg_ctl stop</c>): nothing that
/// was produced may be lost or stored twice. Each test runs its own server, since it stops it.
/// </summary>
public sealed class PostgresOutageTests : IAsyncLifetime
{
    private readonly TempDirectory _data = new("detektor-outage");
    private PostgresServer _server = null!;
    private string _connectionString = null!;

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
    public async Task EventStoreWriter_PostgresStoppedMidRun_StoresEveryEventExactlyOnce()
    {
        using var host = BuildHost();
        await host.StartAsync(Ct);
        var bus = host.Services.GetRequiredService<IFrameBus>();
        var outbox = host.Services.GetRequiredService<StoreOutbox>();
        var producer = new Producer(bus);
        using var producing = new CancellationTokenSource();
        var run = producer.RunAsync(producing.Token);

        // 1. The database is up.
        await Eventually.WaitAsync(() => CountAsync("SELECT count(*) FROM frame_events"), n => n > 200, TimeSpan.FromSeconds(60), "events stored before the outage");

        // 2. The database goes away while frames keep coming.
        await _server.StopAsync(Ct);
        producer.MarkOutage(true);
        await Eventually.WaitAsync(() => Task.FromResult(outbox.Status), s => s.Outage && s.JournalEvents > 500, TimeSpan.FromSeconds(60), "events journaled during the outage");
        var readiness = await CheckDatabaseAsync(host);
        Assert.Equal(HealthStatus.Unhealthy, readiness.Status);
        Assert.Contains("unreachable", readiness.Description, StringComparison.Ordinal);
        Assert.Contains("journaled", readiness.Description, StringComparison.Ordinal);
        Assert.True((long)readiness.Data["backlog_events"] > 500);
        Assert.True(readiness.Data.ContainsKey("outage_since"));
        Assert.DoesNotContain(_server.Password, readiness.Description, StringComparison.Ordinal);

        // 3. It comes back; production goes on for a while, then stops.
        await _server.RestartAsync(Ct);
        producer.MarkOutage(false);
        await Eventually.WaitAsync(() => Task.FromResult(outbox.Status), s => !s.Outage && s.JournalEvents == 0, TimeSpan.FromSeconds(120), "the journal replayed");
        await Task.Delay(500, Ct);
        await producing.CancelAsync();
        await run;
        await Eventually.WaitAsync(
            () => CountAsync("SELECT count(*) FROM frame_events"), n => n >= producer.ExpectedEvents, TimeSpan.FromSeconds(120), "every event stored");
        await host.StopAsync(Ct);

        await AssertExactlyOnceAsync(producer);
        Assert.NotEmpty(producer.ProducedDuringOutage);
        Assert.Equal(HealthStatus.Healthy, (await CheckDatabaseAsync(host)).Status);
    }

    [Fact]
    public async Task EventStoreWriter_StoppedDuringOutage_JournalsAndReplaysAtNextStart()
    {
        var producer = new Producer(null);
        using (var host = BuildHost())
        {
            await host.StartAsync(Ct);
            producer.Bus = host.Services.GetRequiredService<IFrameBus>();
            await producer.ProduceAsync(100, Ct);
            await Eventually.WaitAsync(() => CountAsync("SELECT count(*) FROM frame_events"), n => n == producer.ExpectedEvents, TimeSpan.FromSeconds(60), "the first frames stored");

            await _server.StopAsync(Ct);
            producer.MarkOutage(true);
            await producer.ProduceAsync(150, Ct);
            await host.StopAsync(Ct); // the database is down: what is in memory must go to the journal
        }

        Assert.NotEmpty(Directory.GetFiles(_data.Combine("journal"), "*" + EventJournal.Extension));
        await _server.RestartAsync(Ct);
        using (var host = BuildHost())
        {
            await host.StartAsync(Ct);
            var outbox = host.Services.GetRequiredService<StoreOutbox>();
            await Eventually.WaitAsync(() => Task.FromResult(outbox.Status.JournalEvents), n => n == 0, TimeSpan.FromSeconds(60), "the journal replayed");
            await Eventually.WaitAsync(
                () => CountAsync("SELECT count(*) FROM frame_events"), n => n >= producer.ExpectedEvents, TimeSpan.FromSeconds(60), "every event stored");
            await host.StopAsync(Ct);
        }

        await AssertExactlyOnceAsync(producer);
        Assert.Empty(Directory.GetFiles(_data.Combine("journal"), "*" + EventJournal.Extension));
    }

    /// <summary>
    /// With the store's circuit breaker: the memory bound is far above what the test produces, so without the breaker
    /// nothing would be journaled; an empty memory and a journal while the breaker is open show that it sends batches there
    /// at once instead of retrying the dead database.
    /// </summary>
    [Fact]
    public async Task EventStoreWriter_PostgresStoppedWithBreaker_OpensJournalsAtOnceAndClosesAfterRestart()
    {
        using var host = BuildHost(new()
        {
            ["Detektor:Storage:MemoryBufferEvents"] = "100000",
            ["Detektor:Resilience:Breakers:store:MinimumThroughput"] = "3",
            ["Detektor:Resilience:Breakers:store:FailureRatio"] = "1",
            ["Detektor:Resilience:Breakers:store:BreakDurationSeconds"] = "2",
        });
        await host.StartAsync(Ct);
        var producer = new Producer(host.Services.GetRequiredService<IFrameBus>());
        var outbox = host.Services.GetRequiredService<StoreOutbox>();
        var sut = host.Services.GetRequiredService<CircuitBreakers>().Get(StoreOutbox.BreakerName);
        Assert.Equal(BreakerState.Closed, sut.State);
        await producer.ProduceAsync(20, Ct);
        await Eventually.WaitAsync(() => CountAsync("SELECT count(*) FROM frame_events"), n => n == producer.ExpectedEvents, TimeSpan.FromSeconds(60), "the first frames stored");

        // The database goes away: failed writes open the breaker, and what comes now goes to the journal at once.
        await _server.StopAsync(Ct);
        producer.MarkOutage(true);
        await producer.ProduceAsync(20, Ct);
        await Eventually.WaitAsync(() => Task.FromResult(sut.State), s => s == BreakerState.Open, TimeSpan.FromSeconds(60), "the store breaker open");
        await producer.ProduceAsync(20, Ct);
        await Eventually.WaitAsync(
            () => Task.FromResult(outbox.Status), s => s is { MemoryEvents: 0, JournalEvents: > 0 }, TimeSpan.FromSeconds(60), "the outage's events journaled, none left in memory");
        Assert.True(outbox.Status.Outage);

        // It comes back: a probe write closes the breaker and the journal is replayed.
        await _server.RestartAsync(Ct);
        producer.MarkOutage(false);
        await Eventually.WaitAsync(
            () => Task.FromResult((sut.State, outbox.Status.JournalEvents)), s => s == (BreakerState.Closed, 0), TimeSpan.FromSeconds(120), "the breaker closed and the journal replayed");
        await Eventually.WaitAsync(
            () => CountAsync("SELECT count(*) FROM frame_events"), n => n >= producer.ExpectedEvents, TimeSpan.FromSeconds(60), "every event stored");
        await host.StopAsync(Ct);

        await AssertExactlyOnceAsync(producer);
    }

    private IHost BuildHost(Dictionary<string, string?>? settings = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Detektor:DataDir"] = _data.Path,
            ["Detektor:Storage:Provider"] = "postgres",
            ["Detektor:Storage:PostgresConnectionString"] = _connectionString,
            ["Detektor:Storage:MemoryBufferEvents"] = "300",
            ["Detektor:Storage:RetryDelayMs"] = "100",
            ["Detektor:Storage:BatchSize"] = "200",
            ["Detektor:Storage:Retention:Enabled"] = "false",
        });
        builder.Configuration.AddInMemoryCollection(settings ?? []);
        builder.Services.AddSingleton(new ServiceIdentity("detektor-test"));
        builder.Services.AddMetrics();
        builder.AddInProcessBus();
        builder.AddEventStoreWriter();
        return builder.Build();
    }

    private static async Task<HealthReportEntry> CheckDatabaseAsync(IHost host)
    {
        var report = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Name == "database", Ct);
        return report.Entries["database"];
    }

    private async Task<long> CountAsync(string sql)
    {
        try
        {
            return Convert.ToInt64(await PostgresServer.ScalarAsync(_connectionString, sql, Ct), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (NpgsqlException)
        {
            return -1; // the server is down at the moment
        }
    }

    private async Task AssertExactlyOnceAsync(Producer producer)
    {
        await using var connection = new NpgsqlConnection(_connectionString);
        await connection.OpenAsync(Ct);
        var lifecycle = new List<Guid>();
        await using (var command = new NpgsqlCommand("SELECT event_id FROM frame_events WHERE type <> 'stored'", connection))
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                lifecycle.Add(reader.GetGuid(0));
            }
        }

        Assert.Equal(lifecycle.Count, lifecycle.Distinct().Count());
        Assert.Equal(producer.LifecycleIds.Order(), lifecycle.Order());
        Assert.Subset(lifecycle.ToHashSet(), producer.ProducedDuringOutage.ToHashSet());

        var stored = new Dictionary<string, long>();
        await using (var command = new NpgsqlCommand("SELECT frame_id, count(*) FROM frame_events WHERE type = 'stored' GROUP BY frame_id", connection))
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                stored[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        Assert.Equal(producer.Frames.Order(StringComparer.Ordinal), stored.Keys.Order(StringComparer.Ordinal));
        Assert.All(stored.Values, n => Assert.Equal(1, n));
        Assert.Equal((long)producer.Frames.Count * Producer.DetectionsPerFrame, await CountAsync("SELECT count(*) FROM detections"));
        Assert.Equal(producer.Frames.Count, await CountAsync("SELECT sum(frames) FROM camera_minute_stats"));
        Assert.Equal(producer.Frames.Count, await CountAsync("SELECT sum(stored) FROM camera_minute_stats"));
    }

    /// <summary>Plays the capture and process roles: per frame, five lifecycle events and one result with detections.</summary>
    private sealed class Producer(IFrameBus? bus)
    {
        public const int DetectionsPerFrame = 2;
        private readonly FrameIdGenerator _ids = new(TimeProvider.System, 0x0badf00d);
        private long _sequence;
        private readonly object _gate = new();
        private volatile bool _outage;

        public IFrameBus? Bus { get; set; } = bus;

        public List<Guid> LifecycleIds { get; } = [];

        public List<Guid> ProducedDuringOutage { get; } = [];

        public List<string> Frames { get; } = [];

        public long ExpectedEvents
        {
            get
            {
                lock (_gate)
                {
                    return LifecycleIds.Count + Frames.Count;
                }
            }
        }

        public void MarkOutage(bool outage) => _outage = outage;

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await ProduceAsync(10, CancellationToken.None);
                try
                {
                    await Task.Delay(10, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        public async Task ProduceAsync(int frames, CancellationToken cancellationToken)
        {
            for (var i = 0; i < frames; i++)
            {
                var id = _ids.Next("cam-1", ++_sequence);
                var metadata = new FrameMetadata
                {
                    FrameId = id,
                    CameraId = "cam-1",
                    CaptureTime = id.Timestamp,
                    Sequence = id.Sequence,
                    Trace = new TraceInfo(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), default, ActivityTraceFlags.Recorded, null),
                };
                var events = new[]
                {
                    FrameEvent.Create(FrameEventType.Captured, metadata, Stages.Capture, "test", id.Timestamp),
                    FrameEvent.Create(FrameEventType.Queued, metadata, Stages.Bus, "test", id.Timestamp.AddTicks(10)),
                    FrameEvent.Create(FrameEventType.Dequeued, metadata, Stages.Bus, "test", id.Timestamp.AddTicks(20), duration: TimeSpan.FromMilliseconds(1)),
                    FrameEvent.Create(FrameEventType.ProcessingStarted, metadata, "sample", "test", id.Timestamp.AddTicks(30)),
                    FrameEvent.Create(FrameEventType.ProcessingCompleted, metadata, "sample", "test", id.Timestamp.AddTicks(40), duration: TimeSpan.FromMilliseconds(2)),
                };
                lock (_gate)
                {
                    Frames.Add(id.ToString());
                    foreach (var e in events)
                    {
                        LifecycleIds.Add(e.EventId);
                        if (_outage)
                        {
                            ProducedDuringOutage.Add(e.EventId);
                        }
                    }
                }

                foreach (var e in events)
                {
                    await Bus!.PublishAsync(Topics.Lifecycle, e, cancellationToken);
                }

                await Bus!.PublishAsync(Topics.Results, new FrameResult
                {
                    Metadata = metadata,
                    Outcome = FrameOutcome.Processed,
                    CompletedAt = id.Timestamp.AddTicks(50),
                    Detections = [.. Enumerable.Range(0, DetectionsPerFrame).Select(d => new Detection("person", 0.9f, new BoundingBox(d, d, 10, 10)))],
                }, cancellationToken);
            }
        }
    }
}
