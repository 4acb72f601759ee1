using System.ComponentModel.DataAnnotations;

namespace Detektor.Bus;

/// <summary>Options of the frame bus (section <c>Detektor:Bus</c>), shared by both transports.</summary>
public sealed class BusOptions
{
    public const string SectionName = "Detektor:Bus";

    public const string InProcessTransport = "inprocess";
    public const string RedisTransport = "redis";

    /// <summary>
    /// <c>inprocess</c> (default; all roles in one process) or <c>redis</c> (Redis Streams; needed to split roles over
    /// processes). <c>--redis HOST:PORT</c> sets it to <c>redis</c>.
    /// </summary>
    [Required]
    [AllowedValues(InProcessTransport, RedisTransport)]
    public string Transport { get; set; } = InProcessTransport;

    /// <summary>Queue bound of the perishable <c>frames</c> topic. Default 64 frames; when full the oldest is dropped (counted).</summary>
    [Range(1, 100_000)]
    public int FramesCapacity { get; set; } = 64;

    /// <summary>Queue bound of the durable <c>results</c> and <c>lifecycle</c> topics. Default 100 000; when full publishers wait.</summary>
    [Range(1, 10_000_000)]
    public int DurableCapacity { get; set; } = 100_000;

    /// <summary>Deliveries of one message before it goes to the dead letters. Default 3.</summary>
    [Range(1, 100)]
    public int MaxDeliveries { get; set; } = 3;

    /// <summary>Dead letters kept in process for inspection and replay. Default 1000 (older ones are counted and released).</summary>
    [Range(0, 1_000_000)]
    public int DeadLetterCapacity { get; set; } = 1000;

    /// <summary>
    /// A delivery neither acknowledged nor given back for this long (its consumer crashed or hung, or an HTTP lease ran
    /// out) is handed to another consumer of the group. It is also the lease time of <c>GET /api/v1/frames/dequeue</c>.
    /// Default 30 000 ms.
    /// </summary>
    [Range(50, 3_600_000)]
    public int ClaimIdleMs { get; set; } = 30_000;

    /// <summary>
    /// Consumer group of the frame processors, also used by HTTP processors (<c>GET /api/v1/frames/dequeue</c>). Keep it
    /// equal to <c>Detektor:Processing:ConsumerGroup</c>. Default <c>processors</c>.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_-]{1,64}$")]
    public string ProcessorGroup { get; set; } = "processors";

    /// <summary>
    /// Capability routes: camera id → the capability its frames need (e.g. <c>front: faces</c>). A routed camera's frames
    /// go to the topic <c>frames.{capability}</c>, read only by processors that announce that capability. Cameras without
    /// a route use <c>frames</c>. Routing needs the Redis transport; in one process every frame goes to the local chain.
    /// </summary>
    public Dictionary<string, string> Routes { get; set; } = new(StringComparer.Ordinal);

    public TimeSpan ClaimIdle => TimeSpan.FromMilliseconds(ClaimIdleMs);
}
