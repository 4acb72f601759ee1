using System.Diagnostics.CodeAnalysis;
using System.Text.Json.Serialization;

namespace Detektor.Core.Lifecycle;

/// <summary>What happened to a frame. Wire names are snake_case (see <see cref="FrameEventTypes"/>).</summary>
public enum FrameEventType
{
    [JsonStringEnumMemberName("captured")]
    Captured,

    [JsonStringEnumMemberName("queued")]
    Queued,

    [JsonStringEnumMemberName("dequeued")]
    Dequeued,

    [JsonStringEnumMemberName("processing_started")]
    ProcessingStarted,

    [JsonStringEnumMemberName("processing_completed")]
    ProcessingCompleted,

    [JsonStringEnumMemberName("processing_failed")]
    ProcessingFailed,

    [JsonStringEnumMemberName("skipped")]
    Skipped,

    [JsonStringEnumMemberName("dropped")]
    Dropped,

    [JsonStringEnumMemberName("detected")]
    Detected,

    [JsonStringEnumMemberName("stored")]
    Stored,
}

public static class FrameEventTypes
{
    private static readonly string[] Names =
    [
        "captured", "queued", "dequeued", "processing_started", "processing_completed", "processing_failed",
        "skipped", "dropped", "detected", "stored",
    ];

    /// <summary>All wire names, in lifecycle order.</summary>
    public static IReadOnlyList<string> All => Names;

    public static string ToWireName(this FrameEventType type) => Names[(int)type];

    public static bool TryParse([NotNullWhen(true)] string? name, out FrameEventType type)
    {
        for (var i = 0; i < Names.Length; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.Ordinal))
            {
                type = (FrameEventType)i;
                return true;
            }
        }

        type = default;
        return false;
    }

    /// <summary>
    /// How far along its way an event puts a frame; a frame's state is the event type of highest rank it has.
    /// Terminal outcomes (dropped, stored) outrank everything; a skip or failure outranks the processing it ended.
    /// </summary>
    public static int Rank(this FrameEventType type) => type switch
    {
        FrameEventType.Captured => 1,
        FrameEventType.Queued => 2,
        FrameEventType.Dequeued => 3,
        FrameEventType.ProcessingStarted => 4,
        FrameEventType.ProcessingCompleted => 5,
        FrameEventType.Detected => 5,
        FrameEventType.ProcessingFailed => 6,
        FrameEventType.Skipped => 7,
        FrameEventType.Dropped => 8,
        FrameEventType.Stored => 9,
        _ => 0,
    };

    /// <summary>True for events that end a frame's way: nothing else happens to it afterwards.</summary>
    public static bool IsTerminal(this FrameEventType type) => type is FrameEventType.Stored or FrameEventType.Dropped;

    /// <summary>Events that require a reason.</summary>
    public static bool RequiresReason(this FrameEventType type) => type is FrameEventType.Skipped or FrameEventType.Dropped;
}
