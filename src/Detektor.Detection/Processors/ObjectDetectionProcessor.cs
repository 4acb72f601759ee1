using System.Collections.Concurrent;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Detection.Telemetry;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Processors;

/// <summary>
/// Finds objects in the frame's pooled rgb24 pixels and adds them to <see cref="FrameContext.Detections"/> (source
/// <c>objects</c>, boxes in frame pixels), keeping the camera's labels at its minimum scores. While the model is not
/// available the frame is skipped with <c>detector_unavailable</c>.
/// </summary>
public sealed class ObjectDetectionProcessor(DetectorRuntime runtime, DetectionTelemetry telemetry, IOptions<DetectionOptions> options) : FrameProcessor
{
    public const string ProcessorName = DetectorRuntime.ObjectsName;

    private readonly DetectionOptions _options = options.Value;
    private readonly ConcurrentDictionary<string, DetectRequest> _requests = new(StringComparer.Ordinal);

    public override string Name => ProcessorName;

    public override bool UsesCircuitBreaker => true;

    public override IReadOnlyList<string> Capabilities => ["objects", "labels:coco"];

    public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        var detector = runtime.Objects;
        if (detector is null)
        {
            frame.Activity?.SetTag("detection.unavailable_reason", runtime.ObjectsStatus.Reason ?? runtime.ObjectsStatus.State.ToString());
            return ProcessorResult.Skip(SkipReasons.DetectorUnavailable);
        }

        var request = _requests.GetOrAdd(frame.Metadata.CameraId, Request, (_options, detector.Labels));
        var before = frame.Detections.Count;
        var (timing, wait) = await runtime.Lanes.RunAsync(
            static s => s.detector.Detect(FramePixels.Require(s.frame), s.frame.Metadata.PixelFormat, s.frame.Metadata.Width, s.frame.Metadata.Height, s.request, s.frame.Detections),
            (detector, frame, request),
            cancellationToken);
        telemetry.Record(ProcessorName, detector.Provider, timing, wait);
        for (var i = before; i < frame.Detections.Count; i++)
        {
            telemetry.Found(ProcessorName, frame.Detections[i].Label);
        }

        FramePixels.Tag(frame, detector, timing, wait);
        return ProcessorResult.Continue;
    }

    private static DetectRequest Request(string camera, (DetectionOptions Options, LabelSet Labels) state)
    {
        var (o, labels) = state;
        var cam = o.Camera(camera);
        var scores = new Dictionary<string, float>(StringComparer.OrdinalIgnoreCase);
        foreach (var (label, score) in o.MinScores)
        {
            scores[label] = (float)score;
        }

        foreach (var (label, score) in cam?.MinScores ?? [])
        {
            scores[label] = (float)score;
        }

        var only = cam?.Labels is { Count: > 0 } camLabels ? camLabels : o.Labels;
        var filter = new ClassFilter(labels, (float)(cam?.MinScore ?? o.MinScore), only, scores);
        return new DetectRequest(filter, (float)o.NmsIouThreshold, o.MaxDetections, ProcessorName);
    }
}

/// <summary>Shared checks of the detection processors.</summary>
internal static class FramePixels
{
    /// <summary>
    /// The frame's pixels (rgb24 or yuv420p, what the detector reads); throws (the frame fails, with the reason) when there are
    /// none, another format, or too few bytes.
    /// </summary>
    public static ReadOnlySpan<byte> Require(FrameContext frame)
    {
        var metadata = frame.Metadata;
        if (frame.Pixels is not { } pixels)
        {
            throw new InvalidOperationException("The frame carries no pixels (a bus without pixel transport); detection needs them.");
        }

        if (!PixelFormats.Capture.Contains(metadata.PixelFormat))
        {
            throw new NotSupportedException($"Detection needs {string.Join(" or ", PixelFormats.Capture)} pixels; the frame is {metadata.PixelFormat}.");
        }

        var span = pixels.Span;
        var needed = PixelFormats.FrameBytes(metadata.PixelFormat, metadata.Width, metadata.Height);
        if (span.Length < needed)
        {
            throw new InvalidOperationException($"The frame holds {span.Length} bytes, {metadata.Width}x{metadata.Height} {metadata.PixelFormat} needs {needed}.");
        }

        return span;
    }

    public static void Tag(FrameContext frame, OnnxDetector detector, DetectionTiming timing, TimeSpan laneWait)
    {
        if (frame.Activity is { IsAllDataRequested: true } span)
        {
            span.SetTag("detection.lane_wait_ms", laneWait.TotalMilliseconds);
            span.SetTag("detection.model", detector.ModelName);
            span.SetTag(DetectionTelemetry.ProviderTag, detector.Provider);
            span.SetTag("detection.preprocess_ms", timing.Preprocess.TotalMilliseconds);
            span.SetTag("detection.inference_ms", timing.Inference.TotalMilliseconds);
            span.SetTag("detection.postprocess_ms", timing.Postprocess.TotalMilliseconds);
        }
    }
}
