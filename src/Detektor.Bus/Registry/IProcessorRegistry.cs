using System.ComponentModel.DataAnnotations;

namespace Detektor.Bus.Registry;

/// <summary>
/// Where processors announce themselves: capabilities, capacity and load, kept alive by heartbeats. An entry not
/// heartbeated within <see cref="Ttl"/> expires (its process died); registering again under the same id replaces the old
/// entry cleanly (a restarted processor), with <see cref="ProcessorInfo.Generation"/> one higher.
/// </summary>
public interface IProcessorRegistry
{
    TimeSpan Ttl { get; }

    /// <summary>Registers (or re-registers) a processor; any earlier state under the same id is replaced.</summary>
    ValueTask RegisterAsync(ProcessorRegistration registration, CancellationToken cancellationToken = default);

    /// <summary>Keeps a registration alive with its current load. False when it had expired: register again.</summary>
    ValueTask<bool> HeartbeatAsync(string id, ProcessorLoad load, CancellationToken cancellationToken = default);

    ValueTask UnregisterAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>The live processors, by id.</summary>
    ValueTask<IReadOnlyList<ProcessorInfo>> ListAsync(CancellationToken cancellationToken = default);
}

/// <param name="Id">Stable for one processor: re-registering with it replaces the entry.</param>
/// <param name="Service">The service (role) name, e.g. <c>detektor-process</c>.</param>
/// <param name="Kind"><c>bus</c> (reads a consumer group) or <c>http</c> (leases frames over the HTTP API).</param>
/// <param name="Capabilities">What it can do; frames routed to a capability go only to processors that have it.</param>
/// <param name="Capacity">Frames it works on at once.</param>
/// <param name="Group">The consumer group it reads frames in.</param>
public sealed record ProcessorRegistration(string Id, string Service, string Kind, IReadOnlyList<string> Capabilities, int Capacity, string Group);

/// <param name="InFlight">Frames it holds now (delivered, not yet acknowledged).</param>
/// <param name="Processed">Frames it has finished since it started.</param>
public readonly record struct ProcessorLoad(long InFlight, long Processed);

public sealed record ProcessorInfo(
    string Id,
    string Service,
    string Kind,
    IReadOnlyList<string> Capabilities,
    int Capacity,
    string Group,
    long InFlight,
    long Processed,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeat,
    DateTimeOffset ExpiresAt,
    long Generation)
{
    /// <summary>InFlight / Capacity: how busy it is (can exceed 1 for HTTP processors that lease more than they said).</summary>
    public double Load => Capacity <= 0 ? 0 : (double)InFlight / Capacity;
}

/// <summary>Options of the processor registry (section <c>Detektor:Bus:Registry</c>).</summary>
public sealed class RegistryOptions
{
    public const string SectionName = "Detektor:Bus:Registry";

    /// <summary>A processor not heartbeated this long is gone. Heartbeats go every third of it. Default 15 s.</summary>
    [Range(1, 3600)]
    public int TtlSeconds { get; set; } = 15;

    /// <summary>This process's processor id; default the service instance (host and process id). Set it to keep one id across restarts.</summary>
    [RegularExpression("^[A-Za-z0-9_.:@-]{1,128}$")]
    public string? ProcessorId { get; set; }
}
