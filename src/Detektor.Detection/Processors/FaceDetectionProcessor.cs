using Detektor.Core.Lifecycle;
using Detektor.Detection.Decoding;
using Detektor.Detection.Detectors;
using Detektor.Detection.Preprocessing;
using Detektor.Detection.Telemetry;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Processors;

/// <summary>
/// Finds faces (source <c>faces</c>). With <c>FaceRegion = persons</c> (default) it looks in the upper part of each
/// person box the object detector found (the most confident <c>MaxFaceRegions</c>), which finds small faces far from
/// the camera and costs nothing on frames without people; with <c>frame</c> it looks at the whole frame. Faces found in
/// overlapping person regions are merged. While the model is not available the frame is skipped with
/// <c>detector_unavailable</c> (the objects already found stay in the result).
/// </summary>
public sealed class FaceDetectionProcessor(DetectorRuntime runtime, DetectionTelemetry telemetry, IOptions<DetectionOptions> options) : FrameProcessor
{
    public const string ProcessorName = DetectorRuntime.FacesName;

    private readonly DetectionOptions _options = options.Value;
    private readonly DetectRequest _request = new(new ClassFilter(1, (float)options.Value.FaceMinScore), 0.3f, 32, ProcessorName);

    public override string Name => ProcessorName;

    public override bool UsesCircuitBreaker => true;

    public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        if (_options.Camera(frame.Metadata.CameraId)?.Faces == false)
        {
            return ProcessorResult.Continue;
        }

        var detector = runtime.Faces;
        if (detector is null)
        {
            frame.Activity?.SetTag("detection.unavailable_reason", runtime.FacesStatus.Reason ?? runtime.FacesStatus.State.ToString());
            return ProcessorResult.Skip(SkipReasons.DetectorUnavailable);
        }

        var detections = frame.Detections;
        var firstFace = detections.Count;
        var regions = _options.FaceRegion == "frame" ? null : People(detections, _options.MaxFaceRegions);
        if (regions is { Count: 0 })
        {
            return ProcessorResult.Continue;
        }

        // All of the frame's regions in one turn on a lane; their timings are summed.
        var (timing, wait) = await runtime.Lanes.RunAsync(static s => s.Self.Detect(s.detector, s.frame, s.regions), (Self: this, detector, frame, regions), cancellationToken);
        telemetry.Record(ProcessorName, detector.Provider, timing, wait);
        FramePixels.Tag(frame, detector, timing, wait);
        for (var i = firstFace; i < detections.Count; i++)
        {
            telemetry.Found(ProcessorName, detections[i].Label);
        }

        return ProcessorResult.Continue;
    }

    private DetectionTiming Detect(FaceDetector detector, FrameContext frame, List<Core.Messages.Detection>? people)
    {
        var pixels = FramePixels.Require(frame);
        var (format, width, height) = (frame.Metadata.PixelFormat, frame.Metadata.Width, frame.Metadata.Height);
        if (people is null)
        {
            return detector.Detect(pixels, format, width, height, _request, frame.Detections);
        }

        var firstFace = frame.Detections.Count;
        var total = default(DetectionTiming);
        foreach (var person in people)
        {
            var t = detector.Detect(pixels, format, width, height, HeadRegion(person.Box), _request, frame.Detections);
            total = new DetectionTiming(total.Preprocess + t.Preprocess, total.Inference + t.Inference, total.Postprocess + t.Postprocess);
        }

        Deduplicate(frame.Detections, firstFace);
        return total;
    }

    /// <summary>A square over the top of a person box (where the head is), a little wider than the box.</summary>
    public static PixelRect HeadRegion(Core.Messages.BoundingBox person)
    {
        var side = Math.Min(person.Width, person.Height) * 1.2f;
        var x = person.X + (person.Width / 2) - (side / 2);
        var y = person.Y - (side * 0.1f);
        return new PixelRect((int)MathF.Floor(x), (int)MathF.Floor(y), (int)MathF.Ceiling(side), (int)MathF.Ceiling(side));
    }

    private static List<Core.Messages.Detection> People(List<Core.Messages.Detection> detections, int max)
    {
        var people = new List<Core.Messages.Detection>();
        foreach (var d in detections)
        {
            if (d.Source == ObjectDetectionProcessor.ProcessorName && d.Label == "person")
            {
                people.Add(d);
            }
        }

        people.Sort(static (a, b) => b.Confidence.CompareTo(a.Confidence));
        if (people.Count > max)
        {
            people.RemoveRange(max, people.Count - max);
        }

        return people;
    }

    /// <summary>Person regions can overlap: keep the best of faces that are the same face.</summary>
    private static void Deduplicate(List<Core.Messages.Detection> detections, int first)
    {
        for (var i = detections.Count - 1; i > first; i--)
        {
            for (var k = first; k < i; k++)
            {
                if (detections[k].Box.IoU(detections[i].Box) > 0.5f)
                {
                    if (detections[i].Confidence > detections[k].Confidence)
                    {
                        detections[k] = detections[i];
                    }

                    detections.RemoveAt(i);
                    break;
                }
            }
        }
    }
}
