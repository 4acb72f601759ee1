namespace Detektor.Core.Messages;

/// <summary>A box in frame pixel coordinates (x, y = top-left).</summary>
public readonly record struct BoundingBox(float X, float Y, float Width, float Height)
{
    public float Right => X + Width;

    public float Bottom => Y + Height;

    public float Area => Math.Max(0, Width) * Math.Max(0, Height);

    public float IoU(BoundingBox other)
    {
        var x1 = Math.Max(X, other.X);
        var y1 = Math.Max(Y, other.Y);
        var x2 = Math.Min(Right, other.Right);
        var y2 = Math.Min(Bottom, other.Bottom);
        var intersection = Math.Max(0, x2 - x1) * Math.Max(0, y2 - y1);
        var union = Area + other.Area - intersection;
        return union <= 0 ? 0 : intersection / union;
    }
}

/// <summary>One thing found in a frame.</summary>
public sealed record Detection(string Label, float Confidence, BoundingBox Box)
{
    /// <summary>Numeric class of the model, when there is one.</summary>
    public int ClassId { get; init; } = -1;

    /// <summary>The processor that found it (e.g. <c>objects</c>, <c>faces</c>).</summary>
    public string? Source { get; init; }

    /// <summary>Stable id given by the tracker across frames, when tracked.</summary>
    public string? TrackId { get; init; }
}
