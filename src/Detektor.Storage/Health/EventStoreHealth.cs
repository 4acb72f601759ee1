using System.Globalization;
using Detektor.Core.Security;
using Detektor.Hosting.Health;
using Detektor.Storage.Abstractions;
using Detektor.Storage.Writer;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Storage.Health;

/// <summary>
/// <c>database</c> (readiness): unhealthy while the store cannot be reached, degraded while writes fail or a backlog is
/// being caught up, healthy otherwise. The description and data carry the outage and the backlog (memory and journal).
/// </summary>
internal sealed class EventStoreHealthCheck(IEventStore store, StoreOutbox? outbox, TimeProvider time) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = outbox?.Status;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        if (status is not null)
        {
            data["backlog_events"] = status.BacklogEvents;
            data["memory_events"] = status.MemoryEvents;
            data["journal_events"] = status.JournalEvents;
            data["journal_bytes"] = status.JournalBytes;
            data["rejected_events"] = status.RejectedEvents;
            if (status.OutageSince is { } since)
            {
                data["outage_since"] = since.ToString("O", CultureInfo.InvariantCulture);
                data["outage_seconds"] = Math.Round((time.GetUtcNow() - since).TotalSeconds, 1);
            }
        }

        var backlog = status is null ? string.Empty : $"; backlog {status.BacklogEvents} events ({status.MemoryEvents} in memory, {status.JournalEvents} journaled, {status.JournalBytes} bytes)";
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await store.PingAsync(timeout.Token);
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy($"{store.Provider} unreachable: {SecretMasker.MaskSecrets(ex.Message)}{backlog}", data: data);
        }

        if (status is { Outage: true } || status?.LastError is not null)
        {
            return HealthCheckResult.Degraded($"{store.Provider} answers but writes fail: {status.LastError}{backlog}", data: data);
        }

        if (status is { BacklogEvents: > 0 } && status.JournalEvents > 0)
        {
            return HealthCheckResult.Degraded($"{store.Provider} catching up{backlog}", data: data);
        }

        return HealthCheckResult.Healthy($"{store.Provider} ({store.Info.Partitioning} partitioning){backlog}", data);
    }
}

/// <summary>Adds <c>event_store</c> to /health metadata: provider, where (no password), partitioning, TimescaleDB, schema, backlog.</summary>
internal sealed class EventStoreHealthMetadata(IEventStore store, StoreOutbox? outbox) : IHealthMetadataContributor
{
    public void Contribute(IDictionary<string, object?> metadata)
    {
        var info = store.Info;
        metadata["event_store"] = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["provider"] = info.Provider,
            ["location"] = info.Location,
            ["partitioning"] = info.Partitioning,
            ["schema_version"] = info.SchemaVersion,
            ["server_version"] = info.ServerVersion,
            ["timescaledb"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["available"] = info.TimescaleDbAvailable,
                ["version"] = info.TimescaleDbVersion,
                ["used"] = info.Partitioning == Partitioning.TimescaleDb,
            },
            ["note"] = info.Note,
            ["backlog_events"] = outbox?.Status.BacklogEvents,
        };
    }
}
