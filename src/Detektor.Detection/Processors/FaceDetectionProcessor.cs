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

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        var metadata = frame.Metadata;
        if (_options.Camera(metadata.CameraId)?.Faces == false)
        {
            return ValueTask.FromResult(ProcessorResult.Continue);
        }

        var detector = runtime.Faces;
        if (detector is null)
        {
            frame.Activity?.SetTag("detection.unavailable_reason", runtime.FacesStatus.Reason ?? runtime.FacesStatus.State.ToString());
            return ValueTask.FromResult(ProcessorResult.Skip(SkipReasons.DetectorUnavailable));
        }

        var pixels = FramePixels.Require(frame);
        var detections = frame.Detections;
        var firstFace = detections.Count;
        if (_options.FaceRegion == "frame")
        {
            Record(frame, detector, detector.Detect(pixels, metadata.Width, metadata.Height, _request, detections));
        }
        else
        {
            foreach (var person in People(detections, _options.MaxFaceRegions))
            {
                var region = HeadRegion(person.Box);
                Record(frame, detector, detector.Detect(pixels, metadata.Width, metadata.Height, region, _request, detections));
            }

            Deduplicate(detections, firstFace);
        }

        for (var i = firstFace; i < detections.Count; i++)
        {
            telemetry.Found(ProcessorName, detections[i].Label);
        }

        return ValueTask.FromResult(ProcessorResult.Continue);
    }

    /// <summary>A square over the top of a person box (where the head is), a little wider than the box.</summary>
    public static PixelRect HeadRegion(Core.Messages.BoundingBox person)
    {
        var side = Math.Min(person.Width, person.Height) * 1.2f;
        var x = person.X + (person.Width / 2) - (side / 2);
        var y = person.Y - (side * 0.1f);
        return new PixelRect((int)MathF.Floor(x), (int)MathF.Floor(y), (int)MathF.Ceiling(side), (int)MathF.Ceiling(side));
    }

    private void Record(FrameContext frame, OnnxDetector detector, DetectionTiming timing)
    {
        telemetry.Record(ProcessorName, detector.Provider, timing);
        FramePixels.Tag(frame, detector, timing);
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
