using System.Text.Json.Serialization;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;

namespace Detektor.Core.Messages;

/// <summary>
/// A frame on the bus: its metadata and, in process, its pooled pixels. The message owns one reference to
/// <see cref="Pixels"/>; whoever finishes with the message (processed, dropped, dead-lettered) calls <see cref="Release"/>.
/// </summary>
public sealed class FrameMessage
{
    private FrameBuffer? _pixels;

    public FrameMessage(FrameMetadata metadata, FrameBuffer? pixels)
    {
        Metadata = metadata;
        _pixels = pixels;
    }

    public FrameMetadata Metadata { get; }

    public FrameBuffer? Pixels => _pixels;

    /// <summary>When the message entered its current queue (set by the bus).</summary>
    public DateTimeOffset EnqueuedAt { get; set; }

    /// <summary>Releases the message's reference to its pixels; safe to call more than once.</summary>
    public void Release() => Interlocked.Exchange(ref _pixels, null)?.Release();
}

public enum FrameOutcome
{
    Processed,
    Skipped,
    Failed,
}

/// <summary>What processing made of a frame; published on the results topic and persisted by the store.</summary>
public sealed class FrameResult
{
    public required FrameMetadata Metadata { get; init; }

    public required FrameOutcome Outcome { get; init; }

    /// <summary>The skip reason or failure message.</summary>
    public string? Reason { get; init; }

    public IReadOnlyList<Detection> Detections { get; init; } = [];

    /// <summary>Tracked-object events the tracker emitted while handling this frame (entered, updated, left).</summary>
    public IReadOnlyList<TrackEvent> TrackEvents { get; init; } = [];

    /// <summary>
    /// True for a result that only carries <see cref="TrackEvents"/> (the tracker's <c>left</c> events at shutdown) and is not
    /// the frame's own: <see cref="Metadata"/> is the camera's last frame, which already has its result. The store writes
    /// the track events and nothing about the frame.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool TrackEventsOnly { get; init; }

    public required DateTimeOffset CompletedAt { get; init; }
}
