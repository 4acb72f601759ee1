using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;

namespace Detektor.Bus.Abstractions;

/// <summary>What a full queue does with a topic's messages.</summary>
public enum TopicDurability
{
    /// <summary>Live frames: when the queue is full the oldest message is evicted, counted and recorded as dropped.</summary>
    Perishable,

    /// <summary>Results and lifecycle events: never dropped; a full queue makes the publisher wait (backpressure).</summary>
    Durable,
}

/// <summary>A named, typed stream of messages. Identity is the name; the type says what flows on it.</summary>
public sealed class Topic<T>
    where T : class
{
    public Topic(string name, TopicDurability durability)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Durability = durability;
    }

    public string Name { get; }

    public TopicDurability Durability { get; }

    public override string ToString() => Name;
}

/// <summary>The topics of the pipeline.</summary>
public static class Topics
{
    public static readonly Topic<FrameMessage> Frames = new("frames", TopicDurability.Perishable);
    public static readonly Topic<FrameResult> Results = new("results", TopicDurability.Durable);
    public static readonly Topic<FrameEvent> Lifecycle = new("lifecycle", TopicDurability.Durable);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Topic<FrameMessage>> Routed = new(StringComparer.Ordinal);

    /// <summary>
    /// The frames topic of one capability (<c>frames.{capability}</c>): frames routed there are read only by processors
    /// that announce the capability. Same object for the same capability.
    /// </summary>
    public static Topic<FrameMessage> FramesFor(string capability)
    {
        if (!IsCapabilityName(capability))
        {
            throw new ArgumentException($"'{capability}' is not a capability name ({CapabilityRule}).", nameof(capability));
        }

        return Routed.GetOrAdd(capability, static c => new Topic<FrameMessage>(Frames.Name + "." + c, TopicDurability.Perishable));
    }

    public const string CapabilityRule = "1-64 lowercase letters, digits, '_' or '-'";

    public static bool IsCapabilityName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= 64 && name.All(static c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-');
}
