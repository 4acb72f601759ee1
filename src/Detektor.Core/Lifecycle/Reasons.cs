namespace Detektor.Core.Lifecycle;

/// <summary>Reason codes for <see cref="FrameEventType.Skipped"/> events: the frame was not (fully) processed on purpose.</summary>
public static class SkipReasons
{
    public const string NoMotion = "no_motion";
    public const string Fps = "fps";
    public const string Backpressure = "backpressure";
    public const string LoadShed = "load_shed";
    public const string DetectorUnavailable = "detector_unavailable";

    /// <summary>An external (HTTP lease) processor's circuit breaker is open and its policy is fail-open.</summary>
    public const string ProcessorUnavailable = "processor_unavailable";
}

/// <summary>Reason codes for <see cref="FrameEventType.ProcessingFailed"/> events that Detektor records itself.</summary>
public static class FailureReasons
{
    /// <summary>The processor's circuit breaker is open and its policy is fail-closed (in-chain or external processor).</summary>
    public const string CircuitOpen = "circuit_open";
}

/// <summary>Reason codes for <see cref="FrameEventType.Dropped"/> events: the frame was lost to the pipeline, and counted.</summary>
public static class DropReasons
{
    /// <summary>A bounded queue was full and this (the oldest) frame was evicted.</summary>
    public const string QueueFull = "queue_full";

    /// <summary>The frame was still queued when the process shut down.</summary>
    public const string Shutdown = "shutdown";

    /// <summary>The frame failed in processing more times than allowed and went to the dead letters.</summary>
    public const string DeadLetter = "dead_letter";

    /// <summary>The frame exceeded the message size limit of the bus.</summary>
    public const string TooLarge = "too_large";

    /// <summary>The frame waited longer than its maximum age and was no longer worth processing.</summary>
    public const string Expired = "expired";

    /// <summary>The consumer holding the frame stalled (no progress for the supervisor's StallTimeout) and was restarted.</summary>
    public const string Stalled = "stalled";
}

/// <summary>The pipeline's stage names, as recorded in <see cref="FrameEvent.Stage"/> and the <c>pipeline.stage</c> tag.</summary>
public static class Stages
{
    public const string Capture = "capture";
    public const string Bus = "bus";
    public const string Process = "process";
    public const string Store = "store";
    public const string Api = "api";
}
