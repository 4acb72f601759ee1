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
}
