using System.ComponentModel.DataAnnotations;

namespace Detektor.Bus.Redis;

/// <summary>
/// Options of the Redis Streams transport (section <c>Detektor:Bus:Redis</c>). The connection can also be given as the
/// section's own value (<c>Detektor:Bus:Redis=host:6379</c>) or with <c>--redis host:6379</c>.
/// </summary>
public sealed class RedisBusOptions
{
    public const string SectionName = "Detektor:Bus:Redis";

    public const string RawEncoding = "raw";
    public const string JpegEncoding = "jpeg";
    public const string NoPixels = "none";

    /// <summary>StackExchange.Redis configuration string, e.g. <c>10.0.0.7:6379,password=…</c>. Default <c>127.0.0.1:6379</c>.</summary>
    [Required]
    public string Configuration { get; set; } = "127.0.0.1:6379";

    /// <summary>Prefix of every key Detektor writes (streams, registry, statistics). Default <c>detektor:</c>.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_:.-]{1,64}$")]
    public string KeyPrefix { get; set; } = "detektor:";

    /// <summary>Subscriptions read with Detektor's own RESP reader where the configuration allows it (one endpoint, no TLS).</summary>
    public const string AutoReader = "auto";

    /// <summary>Subscriptions read through StackExchange.Redis (every value a new array).</summary>
    public const string ClientReader = "client";

    /// <summary>How frame pixels travel: <c>raw</c> (as captured), <c>jpeg</c> (smaller, lossy) or <c>none</c> (metadata only).</summary>
    [Required]
    [AllowedValues(RawEncoding, JpegEncoding, NoPixels)]
    public string PixelEncoding { get; set; } = RawEncoding;

    /// <summary>JPEG quality 1–100 when <see cref="PixelEncoding"/> is <c>jpeg</c>. Default 85.</summary>
    [Range(1, 100)]
    public int JpegQuality { get; set; } = 85;

    /// <summary>Largest frame message (encoded pixels and metadata); a larger frame is dropped with reason <c>too_large</c>. Default 8 MiB.</summary>
    [Range(1024, 512 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Longest a consumer's <c>XREADGROUP … BLOCK</c> waits before it looks for work to reclaim. Default 1000 ms.</summary>
    [Range(10, 60_000)]
    public int BlockMs { get; set; } = 1000;

    /// <summary>
    /// How long publishing a frame may retry while Redis is unreachable before the frame is dropped with reason
    /// <c>bus_unavailable</c> (frames are perishable; results and events wait for Redis instead). Default 2000 ms.
    /// </summary>
    [Range(0, 600_000)]
    public int FramePublishTimeoutMs { get; set; } = 2000;

    /// <summary>How often depth, lag, pending and consumers are read for gauges, health and the breaker. Default 500 ms.</summary>
    [Range(50, 60_000)]
    public int MonitorIntervalMs { get; set; } = 500;

    /// <summary>A consumer with nothing pending and idle this long is removed from its group (it died). Default 600 s.</summary>
    [Range(1, 86_400)]
    public int ConsumerExpirySeconds { get; set; } = 600;

    /// <summary>
    /// The connection each subscription's blocking <c>XREADGROUP</c> uses: <c>auto</c> (default; Detektor's own RESP reader,
    /// which reads frame pixels into pooled arrays, where the configuration is one endpoint without TLS, else the client
    /// library) or <c>client</c> (always StackExchange.Redis: a way back for a Redis-compatible server or proxy the
    /// reader does not get on with).
    /// </summary>
    [Required]
    [AllowedValues(AutoReader, ClientReader)]
    public string ReadConnection { get; set; } = AutoReader;

    /// <summary>Connect timeout per attempt; the connection is retried in the background for ever. Default 5000 ms.</summary>
    [Range(100, 60_000)]
    public int ConnectTimeoutMs { get; set; } = 5000;

    /// <summary>The local spill of lifecycle events Redis cannot take (section <c>Detektor:Bus:Redis:LifecycleSpill</c>).</summary>
    public LifecycleSpillOptions LifecycleSpill { get; set; } = new();

    /// <summary>
    /// Consumer groups created together with each stream, so nothing is published before its consumers' group exists
    /// (durable streams are never trimmed past what these groups have acknowledged). Defaults: frames → processors,
    /// results and lifecycle → store.
    /// </summary>
    public Dictionary<string, string> DeclaredGroups { get; set; } = new(StringComparer.Ordinal)
    {
        ["frames"] = "processors",
        ["results"] = "store",
        ["lifecycle"] = "store",
    };
}

/// <summary>
/// Where lifecycle events go while Redis cannot take them (see docs/bus.md, "Redis outage"): an append-only, fsynced
/// journal under the data directory, replayed in order when Redis is back and at the next start.
/// </summary>
public sealed class LifecycleSpillOptions
{
    public const string SectionName = RedisBusOptions.SectionName + ":LifecycleSpill";

    /// <summary>Publishers wait while the spill is full (no lifecycle event is lost; capture stalls).</summary>
    public const string WaitWhenFull = "wait";

    /// <summary>Events that do not fit are dropped, counted and logged (capture keeps running; those frames show as lost).</summary>
    public const string DropWhenFull = "drop";

    /// <summary>Spill at all. Default true; false makes lifecycle publishers wait for Redis (the behaviour before the spill).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The spill directory. Default <c>{Detektor:DataDir}/lifecycle-spill</c> (else <c>data/lifecycle-spill</c>); one process per directory.</summary>
    public string? Path { get; set; }

    /// <summary>Bound of the spill on disk. Default 256 MiB (1 to 1048576); about 2 KB per event with the record overhead is a safe estimate.</summary>
    public int MaxMegabytes { get; set; } = 256;

    /// <summary>What happens at the bound: <c>wait</c> (default) or <c>drop</c>. Either way the health check is unhealthy and it is counted.</summary>
    public string WhenFull { get; set; } = WaitWhenFull;
}
