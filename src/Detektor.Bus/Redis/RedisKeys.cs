namespace Detektor.Bus.Redis;

/// <summary>The Redis keys of one Detektor installation (see docs/bus.md, "Streams and keys").</summary>
public sealed class RedisKeys(string prefix)
{
    /// <summary>Consumer group of the trim journal: every Redis bus process competes in it to account trimmed frames.</summary>
    public const string AccountingGroup = "accounting";

    public string Prefix { get; } = prefix;

    /// <summary>The stream of a topic: <c>{prefix}{topic}</c>, e.g. <c>detektor:frames</c>.</summary>
    public string Stream(string topic) => Prefix + topic;

    /// <summary>Frames only: id, frame id, camera and trace of every entry, kept in step with the stream (no pixels).</summary>
    public string Index(string topic) => Prefix + topic + ":index";

    /// <summary>Frames only: metadata of entries trimmed while a consumer still held them (field "{group} {entry id}").</summary>
    public string Orphans(string topic) => Prefix + topic + ":orphans";

    public string DeadLetters(string topic) => Prefix + "deadletters:" + topic;

    /// <summary>Durable journal of trimmed frames, turned into <c>dropped</c> lifecycle events by the accounting group.</summary>
    public string Trimmed => Prefix + "trimmed";

    /// <summary>Hash "{stage}|{reason}" → count of dropped lifecycle events, over all processes.</summary>
    public string DropStats => Prefix + "stats:drops";

    /// <summary>Hash "{stage}|{reason}" → count of skipped lifecycle events, over all processes.</summary>
    public string SkipStats => Prefix + "stats:skips";

    /// <summary>Hash reason → frames the bus dropped on one topic.</summary>
    public string TopicDrops(string topic) => Prefix + "stats:topic:" + topic;

    /// <summary>Hash of one registered processor (expires unless heartbeated).</summary>
    public string Processor(string id) => Prefix + "processor:" + id;

    /// <summary>Sorted set of processor ids scored by expiry time (unix ms).</summary>
    public string Processors => Prefix + "processors";
}
