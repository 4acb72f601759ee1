using System.Text.Json.Serialization;

namespace Detektor.Core.Frames;

public enum StageStatus
{
    [JsonStringEnumMemberName("pending")]
    Pending,

    [JsonStringEnumMemberName("processing")]
    Processing,

    [JsonStringEnumMemberName("completed")]
    Completed,

    [JsonStringEnumMemberName("failed")]
    Failed,

    [JsonStringEnumMemberName("skipped")]
    Skipped,
}

/// <summary>One step a frame went through (a processor, the store, …), as recorded in its metadata.</summary>
public sealed record ProcessingStage
{
    public required string Name { get; init; }

    public required string Service { get; init; }

    public StageStatus Status { get; set; } = StageStatus.Pending;

    public DateTimeOffset? Started { get; set; }

    public DateTimeOffset? Completed { get; set; }

    public double? DurationMs { get; set; }

    /// <summary>Why the stage failed or skipped the frame (a reason code or an error message, secrets masked).</summary>
    public string? Error { get; set; }
}
