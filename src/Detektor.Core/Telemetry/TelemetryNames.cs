namespace Detektor.Core.Telemetry;

/// <summary>
/// Every ActivitySource and Meter name Detektor uses, in one place, so hosting can subscribe to all of them and tests can
/// listen to exactly one.
/// </summary>
public static class TelemetryNames
{
    public const string Core = "Detektor.Core";
    public const string Capture = "Detektor.Capture";
    public const string Bus = "Detektor.Bus";
    public const string Processing = "Detektor.Processing";
    public const string Detection = "Detektor.Detection";
    public const string Storage = "Detektor.Storage";
    public const string Api = "Detektor.Api";
    public const string Hosting = "Detektor.Hosting";

    /// <summary>All sources and meters (a wildcard would also catch third parties' "Detektor.*" names).</summary>
    public static readonly IReadOnlyList<string> All = [Core, Capture, Bus, Processing, Detection, Storage, Api, Hosting];
}

/// <summary>Span names shared across components. One frame = one trace: the root span is <see cref="Frame"/>.</summary>
public static class SpanNames
{
    /// <summary>Root span of a frame's trace, opened at capture.</summary>
    public const string Frame = "frame";

    /// <summary>Time a frame waited in a bus queue (started at enqueue, ended at dequeue).</summary>
    public const string Queue = "frame.queue";

    /// <summary>Prefix of a processor's span: "process {processor}".</summary>
    public const string ProcessPrefix = "process ";

    /// <summary>Persisting a frame's result in the event store.</summary>
    public const string Store = "store";
}

/// <summary>Attribute (tag) keys, following OpenTelemetry naming: lowercase, dot-separated namespaces.</summary>
public static class SemanticAttributes
{
    public const string FrameId = "frame.id";
    public const string FrameSequence = "frame.sequence";
    public const string FrameSizeBytes = "frame.size_bytes";
    public const string FrameWidth = "frame.width";
    public const string FrameHeight = "frame.height";
    public const string FramePixelFormat = "frame.pixel_format";
    public const string CameraId = "camera.id";
    public const string PipelineStage = "pipeline.stage";
    public const string Processor = "pipeline.processor";
    public const string Outcome = "pipeline.outcome";
    public const string Reason = "pipeline.reason";
    public const string QueueName = "messaging.destination.name";
    public const string DetectionCount = "detection.count";
    public const string Service = "service.name";
}
