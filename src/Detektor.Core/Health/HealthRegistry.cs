using System.Collections.Concurrent;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Detektor.Core.Health;

/// <summary>
/// Health checks that come and go while the process runs (a camera added or removed, a supervised loop started or
/// stopped), next to the fixed ones registered at startup. <c>/health</c>, <c>/ready</c>, <c>/startup</c> and the
/// <c>detektor.health.check.status</c> metric run both sets, so a registered check shows on the next request and in the
/// metric within one publisher period (5 s). <see cref="Register"/> returns a handle whose disposal unregisters the check.
/// </summary>
public sealed class HealthRegistry
{
    private readonly ConcurrentDictionary<string, Entry> _checks = new(StringComparer.Ordinal);
    private long _version;

    /// <summary>Bumped on every change (for tests and diagnostics).</summary>
    public long Version => Interlocked.Read(ref _version);

    /// <summary>Adds (or replaces) the check <paramref name="name"/>; disposing the handle removes it again.</summary>
    public IDisposable Register(string name, IHealthCheck check, params string[] tags)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(check);
        var entry = new Entry(name, check, new HashSet<string>(tags, StringComparer.Ordinal));
        _checks[name] = entry;
        Interlocked.Increment(ref _version);
        return new Handle(this, entry);
    }

    /// <summary>Removes the check <paramref name="name"/>; false when none was registered.</summary>
    public bool Unregister(string name)
    {
        var removed = _checks.TryRemove(name, out _);
        if (removed)
        {
            Interlocked.Increment(ref _version);
        }

        return removed;
    }

    /// <summary>The checks registered now, as health check registrations.</summary>
    public IReadOnlyList<HealthCheckRegistration> Snapshot()
    {
        var list = new List<HealthCheckRegistration>(_checks.Count);
        foreach (var (_, entry) in _checks)
        {
            var check = entry.Check;
            list.Add(new HealthCheckRegistration(entry.Name, check, HealthStatus.Unhealthy, entry.Tags));
        }

        return list;
    }

    private void Remove(Entry entry)
    {
        // Only the registration this handle made: a later Register of the same name is left alone.
        if (_checks.TryRemove(new KeyValuePair<string, Entry>(entry.Name, entry)))
        {
            Interlocked.Increment(ref _version);
        }
    }

    private sealed record Entry(string Name, IHealthCheck Check, HashSet<string> Tags);

    private sealed class Handle(HealthRegistry registry, Entry entry) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                registry.Remove(entry);
            }
        }
    }
}
