using System.Collections.Concurrent;
using Detektor.Core.Lifecycle;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Processors;

/// <summary>
/// Limits detection to the camera's detect fps: a frame captured less than one interval after the last detected frame
/// of its camera is skipped (<c>fps</c>). Time is the frames' capture time, so the rate is the camera's, not the queue's;
/// 5 % slack keeps a 10 fps camera at exactly every other frame for 5 detect fps despite jitter. 0 = every frame.
/// </summary>
public sealed class DetectFpsProcessor(IOptions<DetectionOptions> options) : FrameProcessor
{
    public const string ProcessorName = "fps";

    private readonly DetectionOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, StrongBox> _last = new(StringComparer.Ordinal);

    public override string Name => ProcessorName;

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        var metadata = frame.Metadata;
        var fps = _options.Camera(metadata.CameraId)?.DetectFps ?? _options.DetectFps;
        if (fps <= 0)
        {
            return ValueTask.FromResult(ProcessorResult.Continue);
        }

        var interval = (long)(TimeSpan.TicksPerSecond / fps * 0.95);
        var box = _last.GetOrAdd(metadata.CameraId, static _ => new StrongBox(long.MinValue));
        var at = metadata.CaptureTime.UtcTicks;
        while (true)
        {
            var last = Interlocked.Read(ref box.Ticks);
            if (last != long.MinValue && at - last < interval)
            {
                return ValueTask.FromResult(ProcessorResult.Skip(SkipReasons.Fps));
            }

            if (Interlocked.CompareExchange(ref box.Ticks, at, last) == last)
            {
                return ValueTask.FromResult(ProcessorResult.Continue);
            }
        }
    }

    private sealed class StrongBox(long ticks)
    {
        public long Ticks = ticks;
    }
}
