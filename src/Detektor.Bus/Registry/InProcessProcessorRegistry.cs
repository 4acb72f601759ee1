using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Registry;

/// <summary>The registry of one process (all-in-one mode): the same rules as the Redis one, kept in memory.</summary>
public sealed class InProcessProcessorRegistry(IOptions<RegistryOptions> options, TimeProvider time) : IProcessorRegistry
{
    private readonly ConcurrentDictionary<string, ProcessorInfo> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _generations = new(StringComparer.Ordinal);

    public TimeSpan Ttl { get; } = TimeSpan.FromSeconds(options.Value.TtlSeconds);

    public ValueTask RegisterAsync(ProcessorRegistration registration, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var generation = _generations.AddOrUpdate(registration.Id, 1, static (_, g) => g + 1);
        _entries[registration.Id] = new ProcessorInfo(
            registration.Id, registration.Service, registration.Kind, [.. registration.Capabilities], registration.Capacity, registration.Group,
            0, 0, now, now, now + Ttl, generation);
        return ValueTask.CompletedTask;
    }

    public ValueTask<bool> HeartbeatAsync(string id, ProcessorLoad load, CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        while (_entries.TryGetValue(id, out var entry))
        {
            if (entry.ExpiresAt <= now)
            {
                _entries.TryRemove(new KeyValuePair<string, ProcessorInfo>(id, entry));
                return ValueTask.FromResult(false);
            }

            var next = entry with { InFlight = load.InFlight, Processed = load.Processed, LastHeartbeat = now, ExpiresAt = now + Ttl };
            if (_entries.TryUpdate(id, next, entry))
            {
                return ValueTask.FromResult(true);
            }
        }

        return ValueTask.FromResult(false);
    }

    public ValueTask UnregisterAsync(string id, CancellationToken cancellationToken = default)
    {
        _entries.TryRemove(id, out _);
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<ProcessorInfo>> ListAsync(CancellationToken cancellationToken = default)
    {
        var now = time.GetUtcNow();
        var live = new List<ProcessorInfo>();
        foreach (var (id, entry) in _entries)
        {
            if (entry.ExpiresAt <= now)
            {
                _entries.TryRemove(new KeyValuePair<string, ProcessorInfo>(id, entry));
            }
            else
            {
                live.Add(entry);
            }
        }

        live.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return ValueTask.FromResult<IReadOnlyList<ProcessorInfo>>(live);
    }
}
