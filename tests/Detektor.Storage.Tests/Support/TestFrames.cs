using System.Diagnostics;
using System.Globalization;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Storage.Abstractions;

namespace Detektor.Storage.Tests.Support;

/// <summary>How a test frame ends.</summary>
public enum Ending
{
    Processed,
    Skipped,
    Dropped,
    Failed,
}

/// <summary>One frame's lifecycle as the pipeline records it, with exact (microsecond) times.</summary>
public sealed record TestFrame(FrameId Id, ActivityTraceId Trace, IReadOnlyList<FrameEvent> Events, IReadOnlyList<DetectionRecord> Detections)
{
    public string FrameId => Id.ToString();

    public StoreBatch Batch => new(Events, Detections);

    public FrameEvent Stored => Events.Single(e => e.Type == FrameEventType.Stored);
}

/// <summary>Builds realistic frames: captured → queued → dequeued → processing → stored (or skipped/dropped/failed).</summary>
public static class TestFrames
{
    public const uint Node = 0x3f9a1c2d;

    /// <summary>Now, truncated to the second (so every derived time is whole microseconds).</summary>
    public static DateTimeOffset Now() => Truncate(DateTimeOffset.UtcNow);

    public static DateTimeOffset Truncate(DateTimeOffset t) => new(t.UtcTicks - (t.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    /// <summary>
    /// A frame of <paramref name="camera"/> captured at <paramref name="capturedAt"/>, stored <paramref name="latencyMs"/>
    /// later with <paramref name="detections"/> detections.
    /// </summary>
    public static TestFrame Frame(
        string camera,
        DateTimeOffset capturedAt,
        long sequence,
        Ending ending = Ending.Processed,
        int detections = 0,
        double latencyMs = 40,
        string reason = SkipReasons.NoMotion)
    {
        var id = new FrameId(FrameTimes.ToMicros(capturedAt), camera, sequence, Node);
        var trace = ActivityTraceId.CreateRandom();
        var t0 = id.Timestamp;
        var events = new List<FrameEvent>();
        FrameEvent Add(FrameEventType type, double atMs, string stage, double? durationMs = null, string? why = null, string? data = null)
        {
            var at = t0 + TimeSpan.FromMicroseconds(Math.Round(atMs * 1000));
            var e = new FrameEvent
            {
                EventId = Guid.CreateVersion7(at),
                FrameId = id,
                CameraId = camera,
                Type = type,
                Stage = stage,
                Service = "detektor-test",
                Timestamp = at,
                TraceId = trace,
                SpanId = ActivitySpanId.CreateRandom(),
                Duration = durationMs is { } d ? TimeSpan.FromMicroseconds(Math.Round(d * 1000)) : null,
                Reason = why,
                Data = data,
            };
            events.Add(e);
            return e;
        }

        Add(FrameEventType.Captured, 0, Stages.Capture, 0.5);
        Add(FrameEventType.Queued, 1, Stages.Bus);
        if (ending == Ending.Dropped)
        {
            Add(FrameEventType.Dropped, 3, Stages.Bus, why: reason, data: "{\"queue\":\"frames\"}");
            return new TestFrame(id, trace, events, []);
        }

        Add(FrameEventType.Dequeued, 5, Stages.Bus, 4);
        Add(FrameEventType.ProcessingStarted, 6, "sample");
        string outcome;
        string? storedReason = null;
        switch (ending)
        {
            case Ending.Skipped:
                Add(FrameEventType.Skipped, 10, "sample", 4, why: reason);
                outcome = "skipped";
                storedReason = reason;
                break;
            case Ending.Failed:
                Add(FrameEventType.ProcessingFailed, 10, "sample", 4, why: "boom");
                outcome = "failed";
                storedReason = "boom";
                break;
            default:
                Add(FrameEventType.ProcessingCompleted, 26, "sample", 20);
                outcome = "processed";
                break;
        }

        var data = string.Create(CultureInfo.InvariantCulture, $"{{\"outcome\":\"{outcome}\",\"detections\":{detections},\"latency_ms\":{latencyMs}}}");
        var stored = Add(FrameEventType.Stored, latencyMs, Stages.Store, 1, why: storedReason, data: data);
        var records = new List<DetectionRecord>();
        for (var i = 0; i < detections; i++)
        {
            records.Add(new DetectionRecord(
                id.ToString(), camera, t0, i % 2 == 0 ? "person" : "car", 0.5f + (i * 0.01f), 0.1f * i, 0.2f, 0.3f, 0.4f, "sample", null, stored.EventId));
        }

        return new TestFrame(id, trace, events, records);
    }

    public static StoreBatch Batch(IEnumerable<TestFrame> frames)
    {
        var list = frames.ToList(); // enumerate once: a lazy sequence would make new frames each time
        return new StoreBatch([.. list.SelectMany(f => f.Events)], [.. list.SelectMany(f => f.Detections)]);
    }
}
