namespace Detektor.Core.Messages;

public enum TrackEventType
{
    /// <summary>A new object was confirmed (seen in enough frames to be believed).</summary>
    Entered,

    /// <summary>The object was seen better than before: a higher score and a new best snapshot.</summary>
    Updated,

    /// <summary>The object was not seen for a while and is gone.</summary>
    Left,
}

/// <summary>
/// What the tracker says about one tracked object, carried on the frame's <see cref="FrameResult"/> to the store.
/// <see cref="FrameId"/> and <see cref="TraceId"/> name the frame the event is about (for <c>left</c>: the last frame
/// the object was seen in); <see cref="Frames"/> are the frames that support the event since the previous one (bounded).
/// </summary>
public sealed record TrackEvent(
    Guid EventId,
    string ObjectId,
    TrackEventType Type,
    string Label,
    float Score,
    BoundingBox Box,
    DateTimeOffset Time,
    string FrameId,
    string? TraceId,
    string? SnapshotPath,
    IReadOnlyList<string> Frames)
{
    /// <summary>Why, when the event is not the tracker's ordinary judgement: <see cref="TrackEventReasons.Shutdown"/> for a <c>left</c> at shutdown.</summary>
    public string? Reason { get; init; }
}

/// <summary>Reasons a <see cref="TrackEvent"/> may carry.</summary>
public static class TrackEventReasons
{
    /// <summary>The object was still in view when the process stopped: it leaves with the tracker, so every object that entered also leaves.</summary>
    public const string Shutdown = "shutdown";
}
