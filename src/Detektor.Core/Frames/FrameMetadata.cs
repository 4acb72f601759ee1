using System.Text.Json.Serialization;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;

namespace Detektor.Core.Frames;

/// <summary>
/// Everything known about a frame besides its pixels. Travels with the frame on the bus and is stored with its result.
/// JSON (snake_case) is versioned by <see cref="SchemaVersion"/>; readers ignore fields they do not know, so newer writers
/// can add fields without breaking older readers.
/// </summary>
public sealed class FrameMetadata : IEquatable<FrameMetadata>
{
    public const int CurrentSchemaVersion = 1;

    private List<ProcessingStage>? _stages;
    private Dictionary<string, string>? _tags;

    public int SchemaVersion { get; init; } = CurrentSchemaVersion;

    public required FrameId FrameId { get; init; }

    public required string CameraId { get; init; }

    /// <summary>Wall-clock time the frame was read from the camera (may differ from the id's monotonic time).</summary>
    public required DateTimeOffset CaptureTime { get; init; }

    public int Width { get; init; }

    public int Height { get; init; }

    /// <summary>ffmpeg pixel-format name of the pixels, e.g. <c>rgb24</c>.</summary>
    public string PixelFormat { get; init; } = PixelFormats.Rgb24;

    public int SizeBytes { get; init; }

    public long Sequence { get; init; }

    [JsonPropertyName("trace")]
    public TraceInfo Trace { get; set; }

    /// <summary>Motion score of the frame in [0, 1] (share of changed area), when capture measured it.</summary>
    public double? MotionScore { get; set; }

    /// <summary>
    /// Where the picture changed (frame pixel coordinates, largest first), when capture measured motion and found some;
    /// null otherwise. Added in schema 1 without a version bump: older readers ignore it.
    /// </summary>
    public List<BoundingBox>? MotionBoxes { get; set; }

    public List<ProcessingStage> Stages
    {
        get => _stages ??= [];
        init => _stages = value;
    }

    public Dictionary<string, string> Tags
    {
        get => _tags ??= new Dictionary<string, string>(StringComparer.Ordinal);
        init => _tags = value;
    }

    public bool Equals(FrameMetadata? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other))
        {
            return true;
        }

        return SchemaVersion == other.SchemaVersion && FrameId == other.FrameId &&
               string.Equals(CameraId, other.CameraId, StringComparison.Ordinal) &&
               CaptureTime.Equals(other.CaptureTime) && CaptureTime.Offset == other.CaptureTime.Offset &&
               Width == other.Width && Height == other.Height &&
               string.Equals(PixelFormat, other.PixelFormat, StringComparison.Ordinal) &&
               SizeBytes == other.SizeBytes && Sequence == other.Sequence && Trace.Equals(other.Trace) &&
               Nullable.Equals(MotionScore, other.MotionScore) && BoxesEqual(MotionBoxes, other.MotionBoxes) &&
               StagesEqual(_stages, other._stages) && TagsEqual(_tags, other._tags);
    }

    public override bool Equals(object? obj) => obj is FrameMetadata other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(FrameId, CameraId, CaptureTime, Sequence);

    private static bool BoxesEqual(List<BoundingBox>? a, List<BoundingBox>? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!a[i].Equals(b[i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool StagesEqual(List<ProcessingStage>? a, List<ProcessingStage>? b)
    {
        var countA = a?.Count ?? 0;
        var countB = b?.Count ?? 0;
        if (countA != countB)
        {
            return false;
        }

        for (var i = 0; i < countA; i++)
        {
            if (!a![i].Equals(b![i]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool TagsEqual(Dictionary<string, string>? a, Dictionary<string, string>? b)
    {
        var countA = a?.Count ?? 0;
        var countB = b?.Count ?? 0;
        if (countA != countB)
        {
            return false;
        }

        if (countA == 0)
        {
            return true;
        }

        foreach (var (key, value) in a!)
        {
            if (!b!.TryGetValue(key, out var other) || !string.Equals(value, other, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Pixel formats Detektor reads from ffmpeg (ffmpeg's own names).</summary>
public static class PixelFormats
{
    /// <summary>Packed 8-bit R, G, B: <c>width × height × 3</c> bytes.</summary>
    public const string Rgb24 = "rgb24";

    /// <summary>
    /// Planar 4:2:0 YUV (BT.601, limited range, as ffmpeg scales to it): the Y plane (<c>width × height</c>), then U and V
    /// at half the width and height each — <c>width × height × 3 / 2</c> bytes, even sizes only. What decoders produce, so
    /// ffmpeg does not convert, and half the bytes of rgb24 through the pipe, the pool and the bus (ADR 0008).
    /// </summary>
    public const string Yuv420p = "yuv420p";

    /// <summary>8-bit luma only: <c>width × height</c> bytes.</summary>
    public const string Gray = "gray";

    /// <summary>The formats capture can produce (<c>Detektor:Capture:PixelFormat</c>).</summary>
    public static readonly IReadOnlyList<string> Capture = [Yuv420p, Rgb24];

    /// <summary>Bytes of one frame of <paramref name="format"/>; throws for an unknown format or odd sizes of yuv420p.</summary>
    public static int FrameBytes(string format, int width, int height) => format switch
    {
        Rgb24 => width * height * 3,
        Gray => width * height,
        Yuv420p when width % 2 == 0 && height % 2 == 0 => width * height * 3 / 2,
        Yuv420p => throw new ArgumentException($"yuv420p needs even sizes, not {width}x{height}.", nameof(width)),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Supported pixel formats: rgb24, yuv420p, gray."),
    };
}
