using System.Collections.Concurrent;
using Detektor.Core.Frames;

namespace Detektor.Detection.Processors;

/// <summary>
/// The two cheap gates of detection as one decision, shared by the processors (<see cref="MotionGateProcessor"/>,
/// <see cref="DetectFpsProcessor"/>) and by capture (<see cref="DetectionCaptureGate"/>), so both decide alike.
/// </summary>
public static class DetectGates
{
    /// <summary>
    /// The camera's motion threshold when the frame's motion score is below it (the frame would be skipped
    /// <c>no_motion</c>); null otherwise. A frame without a score counts as motion; a threshold of 0 turns the gate off.
    /// </summary>
    public static double? BelowMotionThreshold(DetectionOptions options, FrameMetadata metadata)
    {
        var threshold = options.Camera(metadata.CameraId)?.MotionThreshold ?? options.MotionThreshold;
        return threshold > 0 && metadata.MotionScore is { } score && score < threshold ? threshold : null;
    }

    /// <summary>The camera's detect fps (0 = every frame).</summary>
    public static double DetectFps(DetectionOptions options, string cameraId) => options.Camera(cameraId)?.DetectFps ?? options.DetectFps;
}

/// <summary>
/// Per camera, the capture time of the last frame admitted for detection. A frame is due when at least 95 % of one interval
/// of the camera's detect fps has passed since then — 5 % slack keeps a 10 fps camera at exactly every other frame for
/// 5 detect fps despite jitter. Time is the frames' capture time, so the rate is the camera's, not the queue's. Thread-safe.
/// </summary>
public sealed class DetectRate
{
    private readonly ConcurrentDictionary<string, StrongBox> _last = new(StringComparer.Ordinal);

    /// <summary>True (and the frame becomes the camera's last admitted one) when it is due at <paramref name="fps"/>; 0 = every frame.</summary>
    public bool TryAdmit(string cameraId, DateTimeOffset captureTime, double fps)
    {
        if (fps <= 0)
        {
            return true;
        }

        var interval = (long)(TimeSpan.TicksPerSecond / fps * 0.95);
        var box = _last.GetOrAdd(cameraId, static _ => new StrongBox(long.MinValue));
        var at = captureTime.UtcTicks;
        while (true)
        {
            var last = Interlocked.Read(ref box.Ticks);
            if (last != long.MinValue && at - last < interval)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref box.Ticks, at, last) == last)
            {
                return true;
            }
        }
    }

    private sealed class StrongBox(long ticks)
    {
        public long Ticks = ticks;
    }
}
