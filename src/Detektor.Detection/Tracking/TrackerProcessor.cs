using System.Collections.Concurrent;
using Detektor.Core.Frames;
using Detektor.Core.Messages;
using Detektor.Detection.Telemetry;
using Detektor.Processing.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Detection.Tracking;

/// <summary>
/// The last processor of the detection chain: gives detections stable track ids and turns them into tracked-object
/// events (<see cref="FrameContext.TrackEvents"/>, stored with the frame's result), writing the best snapshot of each object.
/// It also sees frames that an earlier processor skipped (no motion, detect fps) so that objects leave on time.
/// Time is the frames' capture time, so replays and files track as they would live.
/// </summary>
/// <remarks>
/// Tracking state lives in this process: with several processor instances (Redis bus), frames of one camera should go to
/// one of them, or an object may be reported by each instance that saw part of it.
/// </remarks>
public sealed class TrackerProcessor : FrameProcessor
{
    public const string ProcessorName = "tracker";

    private readonly DetectionOptions _options;
    private readonly SnapshotStore _snapshots;
    private readonly DetectionTelemetry _telemetry;
    private readonly ILogger<TrackerProcessor> _logger;
    private readonly ConcurrentDictionary<string, CameraTracker> _cameras = new(StringComparer.Ordinal);

    public TrackerProcessor(IOptions<DetectionOptions> options, SnapshotStore snapshots, DetectionTelemetry telemetry, ILogger<TrackerProcessor> logger)
    {
        _options = options.Value;
        _snapshots = snapshots;
        _telemetry = telemetry;
        _logger = logger;
        telemetry.ObserveTracks(() => _cameras.Select(c => (c.Key, c.Value.Tracks.Count(t => t.Confirmed))));
    }

    public override string Name => ProcessorName;

    public override IReadOnlyList<string> Capabilities => ["tracking"];

    public override bool ObservesUnprocessedFrames => true;

    /// <summary>The camera's tracker (created on first use).</summary>
    public CameraTracker For(string cameraId) =>
        _cameras.GetOrAdd(cameraId, static (camera, o) => new CameraTracker(TrackerSettings.For(o.Tracking, o.Camera(camera)), NewId), _options);

    public override ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        var metadata = frame.Metadata;
        var tracker = For(metadata.CameraId);
        var changes = new List<TrackChange>();
        var here = Frame(metadata);
        lock (tracker)
        {
            Remember(tracker, metadata);
            tracker.Step(here, frame.Detections, changes);
            Emit(frame, here, changes);
        }

        if (frame.Activity is { IsAllDataRequested: true } span)
        {
            span.SetTag("tracker.tracks", tracker.Tracks.Count);
            span.SetTag("tracker.events", changes.Count);
        }

        return ValueTask.FromResult(ProcessorResult.Continue);
    }

    public override ValueTask ObserveUnprocessedAsync(FrameContext frame, CancellationToken cancellationToken)
    {
        var metadata = frame.Metadata;
        if (!_cameras.TryGetValue(metadata.CameraId, out var tracker))
        {
            return ValueTask.CompletedTask;
        }

        var changes = new List<TrackChange>();
        lock (tracker)
        {
            Remember(tracker, metadata);
            tracker.Age(metadata.CaptureTime, changes);
            Emit(frame, null, changes); // ageing yields only left events, which name the frame last seen
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>At shutdown every object still in view leaves (reason <c>shutdown</c>), so each one that entered also leaves.</summary>
    public override IReadOnlyList<ClosingEvents> Close()
    {
        var closing = new List<ClosingEvents>();
        var changes = new List<TrackChange>();
        foreach (var (_, tracker) in _cameras)
        {
            lock (tracker)
            {
                changes.Clear();
                tracker.Close(changes);
                if (changes.Count == 0 || tracker.LastFrame is not { } last)
                {
                    continue;
                }

                var events = new List<TrackEvent>(changes.Count);
                foreach (var change in changes)
                {
                    var e = Left(change) with { Reason = TrackEventReasons.Shutdown };
                    events.Add(e);
                    _telemetry.TrackEvent(e.Type, e.Label);
                }

                closing.Add(new ClosingEvents(last, events));
            }
        }

        return closing;
    }

    /// <summary>Keeps the newest frame of the camera (frames may finish out of order).</summary>
    private static void Remember(CameraTracker tracker, FrameMetadata metadata)
    {
        if (tracker.LastFrame is not { } last || metadata.CaptureTime >= last.CaptureTime)
        {
            tracker.LastFrame = metadata;
        }
    }

    /// <summary>
    /// A <c>left</c> event repeats the score of the best reported view (the one in the snapshot), so that the stored best
    /// score, snapshot and frame stay those of one view; its frame is the one the object was last seen in.
    /// </summary>
    private static TrackEvent Left(TrackChange change)
    {
        var track = change.Track;
        return new TrackEvent(
            Guid.CreateVersion7(), track.Id, TrackEventType.Left, track.Label, track.ReportedScore, track.Box, track.LastSeen.Time,
            track.LastSeen.FrameId, track.LastSeen.TraceId, track.SnapshotPath, change.Frames);
    }

    private static TrackedFrame Frame(FrameMetadata metadata) =>
        new(metadata.FrameId.ToString(), metadata.Trace.IsEmpty ? null : metadata.Trace.TraceId.ToHexString(), metadata.CaptureTime);

    /// <summary>Turns the tracker's changes into events; <paramref name="here"/> is this frame, needed by entered/updated only.</summary>
    private void Emit(FrameContext frame, TrackedFrame? here, List<TrackChange> changes)
    {
        foreach (var change in changes)
        {
            var track = change.Track;
            TrackEvent e;
            if (change.Kind == TrackChangeKind.Left)
            {
                e = Left(change);
            }
            else
            {
                var detection = change.Detection!;
                var snapshot = TryWriteSnapshot(frame, track.Id, detection.Box);
                track.SnapshotPath = snapshot ?? track.SnapshotPath;
                var at = here ?? Frame(frame.Metadata);
                e = new TrackEvent(
                    Guid.CreateVersion7(), track.Id, change.Kind == TrackChangeKind.Entered ? TrackEventType.Entered : TrackEventType.Updated,
                    track.Label, detection.Confidence, detection.Box, at.Time, at.FrameId, at.TraceId, snapshot, change.Frames);
            }

            frame.TrackEvents.Add(e);
            _telemetry.TrackEvent(e.Type, e.Label);
        }
    }

    private string? TryWriteSnapshot(FrameContext frame, string objectId, BoundingBox box)
    {
        var metadata = frame.Metadata;
        if (frame.Pixels is not { } pixels || !PixelFormats.Capture.Contains(metadata.PixelFormat))
        {
            return null;
        }

        try
        {
            return _snapshots.Write(metadata.CameraId, objectId, pixels.Span, metadata.PixelFormat, metadata.Width, metadata.Height, box);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            // The event still counts; its picture is missing (and the log says why).
            Log.SnapshotFailed(_logger, metadata.CameraId, objectId, ex.Message);
            _telemetry.SnapshotFailed();
            return null;
        }
    }

    /// <summary>Time-ordered, unique, URL-safe: <c>trk_</c> and a version-7 UUID.</summary>
    private static string NewId() => "trk_" + Guid.CreateVersion7().ToString("N");
}
