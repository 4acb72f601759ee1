using System.ComponentModel.DataAnnotations;

namespace Detektor.Detection.Shedding;

/// <summary>
/// Load shedding (<c>Detektor:Detection:LoadShedding</c>): when frames wait longer than <see cref="MaxQueueWaitMs"/> for
/// the process role, the detect rate of the cameras is halved step by step, lowest
/// <see cref="CameraDetectionOptions.Priority"/> first, so that the queue never fills and no frame is dropped. See ADR 0005.
/// </summary>
public sealed class LoadSheddingOptions
{
    /// <summary>Shed load at all. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The budget: mean queue wait (frames topic) above this means detection is behind. Default 50 ms.</summary>
    [Range(1, 600_000)]
    public int MaxQueueWaitMs { get; set; } = 50;

    /// <summary>Shedding is undone once the mean wait is below this share of the budget for <see cref="RecoverSeconds"/>. Default 0.5.</summary>
    [Range(0.05, 0.95)]
    public double RecoverRatio { get; set; } = 0.5;

    /// <summary>The wait is averaged, and the shed level moves by at most one step, per this interval. Default 1000 ms.</summary>
    [Range(50, 60_000)]
    public int IntervalMs { get; set; } = 1000;

    /// <summary>How long the wait must stay low before one step is given back. Default 5 s.</summary>
    [Range(0.0, 3600.0)]
    public double RecoverSeconds { get; set; } = 5;

    /// <summary>Halvings per camera: at the deepest step a camera detects 1 frame in 2^MaxSteps. Default 3 (1 in 8).</summary>
    [Range(1, 10)]
    public int MaxSteps { get; set; } = 3;
}
