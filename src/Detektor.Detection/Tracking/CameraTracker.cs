using Detektor.Core.Frames;
using Detektor.Core.Messages;

namespace Detektor.Detection.Tracking;

/// <summary>The tracker's settings for one camera, resolved from <see cref="TrackingOptions"/> and the camera's overrides.</summary>
public sealed record TrackerSettings(
    IReadOnlySet<string> Labels,
    float MinScore,
    float IouThreshold,
    int MinHits,
    TimeSpan LeftAfter,
    float UpdateScoreStep,
    TimeSpan UpdateMinInterval,
    int MaxTracks,
    int MaxFramesPerEvent)
{
    public static TrackerSettings For(TrackingOptions options, CameraDetectionOptions? camera) => new(
        new HashSet<string>(camera?.TrackLabels is { Count: > 0 } labels ? labels : options.Labels, StringComparer.OrdinalIgnoreCase),
        (float)(camera?.TrackMinScore ?? options.MinScore),
        (float)options.IouThreshold,
        options.MinHits,
        TimeSpan.FromSeconds(options.LeftAfterSeconds),
        (float)options.UpdateScoreStep,
        TimeSpan.FromSeconds(options.UpdateMinIntervalSeconds),
        options.MaxTracksPerCamera,
        options.MaxFramesPerEvent);
}

/// <summary>The frame a tracker step is about.</summary>
public readonly record struct TrackedFrame(string FrameId, string? TraceId, DateTimeOffset Time);

/// <summary>One object followed across frames.</summary>
public sealed class Track
{
    private readonly List<string> _frames = [];

    internal Track(string id, Core.Messages.Detection detection, TrackedFrame frame)
    {
        Id = id;
        Label = detection.Label;
        Box = detection.Box;
        FirstSeen = frame.Time;
        LastSeen = frame;
        BestScore = detection.Confidence;
        BestFrameId = frame.FrameId;
        LastScore = detection.Confidence;
        Hits = 1;
        _frames.Add(frame.FrameId);
    }

    public string Id { get; }

    public string Label { get; }

    /// <summary>The box where the object was last seen.</summary>
    public BoundingBox Box { get; private set; }

    public DateTimeOffset FirstSeen { get; }

    public TrackedFrame LastSeen { get; private set; }

    /// <summary>Frames the object was matched in.</summary>
    public int Hits { get; private set; }

    /// <summary>True once seen in enough frames to be reported (<c>entered</c> was emitted).</summary>
    public bool Confirmed { get; internal set; }

    public float BestScore { get; private set; }

    public string BestFrameId { get; private set; }

    public float LastScore { get; private set; }

    /// <summary>The score last reported in an entered or updated event: the score of the view in the snapshot.</summary>
    public float ReportedScore { get; internal set; }

    /// <summary>The object's snapshot (relative path), once one was written.</summary>
    public string? SnapshotPath { get; set; }

    internal DateTimeOffset ReportedAt { get; set; }

    /// <summary>Motion of the box centre in pixels per second (from the last two sightings).</summary>
    internal (float X, float Y) Velocity { get; private set; }

    /// <summary>Frames that support the next event (bounded); <see cref="FramesSinceEvent"/> counts them all.</summary>
    internal IReadOnlyList<string> Frames => _frames;

    internal int FramesSinceEvent { get; private set; } = 1;

    /// <summary>Where the object should be at <paramref name="time"/>, moving as it did (at most one second ahead).</summary>
    internal BoundingBox Predict(DateTimeOffset time)
    {
        var dt = (float)Math.Clamp((time - LastSeen.Time).TotalSeconds, 0, 1);
        return Box with { X = Box.X + (Velocity.X * dt), Y = Box.Y + (Velocity.Y * dt) };
    }

    internal void See(Core.Messages.Detection detection, TrackedFrame frame, int maxFrames)
    {
        if (frame.Time > LastSeen.Time)
        {
            var dt = (float)(frame.Time - LastSeen.Time).TotalSeconds;
            var vx = (detection.Box.X + (detection.Box.Width / 2) - (Box.X + (Box.Width / 2))) / dt;
            var vy = (detection.Box.Y + (detection.Box.Height / 2) - (Box.Y + (Box.Height / 2))) / dt;
            // Smoothed: one noisy box must not throw the prediction off.
            Velocity = Hits == 1 ? (vx, vy) : ((0.5f * Velocity.X) + (0.5f * vx), (0.5f * Velocity.Y) + (0.5f * vy));
            Box = detection.Box;
            LastSeen = frame;
        }

        Hits++;
        LastScore = detection.Confidence;
        if (detection.Confidence > BestScore)
        {
            BestScore = detection.Confidence;
            BestFrameId = frame.FrameId;
        }

        FramesSinceEvent++;
        if (_frames.Count < maxFrames)
        {
            _frames.Add(frame.FrameId);
        }
    }

    /// <summary>Takes the supporting frames for an event and starts the next list.</summary>
    internal IReadOnlyList<string> TakeFrames()
    {
        var frames = _frames.ToArray();
        _frames.Clear();
        FramesSinceEvent = 0;
        return frames;
    }
}

public enum TrackChangeKind
{
    Entered,
    Updated,
    Left,
}

/// <summary>Something an event must be emitted for; <see cref="Detection"/> is the sighting in this frame (null for left).</summary>
public readonly record struct TrackChange(TrackChangeKind Kind, Track Track, Core.Messages.Detection? Detection, IReadOnlyList<string> Frames);

/// <summary>
/// Follows the objects of one camera (not thread-safe: the caller serialises calls per camera). Each step matches the
/// frame's detections of tracked labels to the tracks, greedily by IoU against each track's predicted box (same label only);
/// unmatched confident detections start tentative tracks; a track seen in <see cref="TrackerSettings.MinHits"/> frames is
/// confirmed (<c>entered</c>); a confirmed track seen with a clearly better score is <c>updated</c> (rate-limited); a track
/// not seen for <see cref="TrackerSettings.LeftAfter"/> has <c>left</c> (tentative ones vanish silently).
/// </summary>
public sealed class CameraTracker(TrackerSettings settings, Func<string> newId)
{
    private readonly List<Track> _tracks = [];
    private readonly List<(float Iou, int Track, int Detection)> _pairs = [];
    private DateTimeOffset _latest = DateTimeOffset.MinValue;

    public TrackerSettings Settings => settings;

    public IReadOnlyList<Track> Tracks => _tracks;

    /// <summary>Detections not tracked because the camera already follows <see cref="TrackerSettings.MaxTracks"/> objects.</summary>
    public long Overflow { get; private set; }

    /// <summary>
    /// One frame's detections: sets <see cref="Core.Messages.Detection.TrackId"/> on those that belong to a confirmed track (replacing
    /// them in <paramref name="detections"/>) and appends what happened to <paramref name="changes"/>.
    /// </summary>
    public void Step(TrackedFrame frame, List<Core.Messages.Detection> detections, List<TrackChange> changes)
    {
        // A frame older than one already seen (frames of a camera may finish out of order) still matches, but does not
        // age anything.
        if (frame.Time > _latest)
        {
            _latest = frame.Time;
            Age(frame.Time, changes);
        }

        _pairs.Clear();
        Span<bool> matchedDetection = detections.Count <= 256 ? stackalloc bool[detections.Count] : new bool[detections.Count];
        for (var d = 0; d < detections.Count; d++)
        {
            var detection = detections[d];
            if (!settings.Labels.Contains(detection.Label))
            {
                matchedDetection[d] = true; // not ours
                continue;
            }

            for (var t = 0; t < _tracks.Count; t++)
            {
                var track = _tracks[t];
                if (!string.Equals(track.Label, detection.Label, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                var iou = Math.Max(track.Predict(frame.Time).IoU(detection.Box), track.Box.IoU(detection.Box));
                if (iou >= settings.IouThreshold)
                {
                    _pairs.Add((iou, t, d));
                }
            }
        }

        _pairs.Sort(static (a, b) => b.Iou.CompareTo(a.Iou));
        Span<bool> matchedTrack = _tracks.Count <= 256 ? stackalloc bool[_tracks.Count] : new bool[_tracks.Count];
        foreach (var (_, t, d) in _pairs)
        {
            if (matchedTrack[t] || matchedDetection[d])
            {
                continue;
            }

            matchedTrack[t] = true;
            matchedDetection[d] = true;
            var track = _tracks[t];
            var detection = detections[d];
            track.See(detection, frame, settings.MaxFramesPerEvent);
            if (!track.Confirmed && track.Hits >= settings.MinHits)
            {
                track.Confirmed = true;
                track.ReportedScore = detection.Confidence;
                track.ReportedAt = frame.Time;
                changes.Add(new TrackChange(TrackChangeKind.Entered, track, detection, track.TakeFrames()));
            }
            else if (track.Confirmed
                     && detection.Confidence >= track.ReportedScore + settings.UpdateScoreStep
                     && frame.Time - track.ReportedAt >= settings.UpdateMinInterval)
            {
                track.ReportedScore = detection.Confidence;
                track.ReportedAt = frame.Time;
                changes.Add(new TrackChange(TrackChangeKind.Updated, track, detection, track.TakeFrames()));
            }

            if (track.Confirmed)
            {
                detections[d] = detection with { TrackId = track.Id };
            }
        }

        for (var d = 0; d < detections.Count; d++)
        {
            var detection = detections[d];
            if (matchedDetection[d] || detection.Confidence < settings.MinScore)
            {
                continue;
            }

            if (_tracks.Count >= settings.MaxTracks)
            {
                Overflow++;
                continue;
            }

            var track = new Track(newId(), detection, frame);
            _tracks.Add(track);
            if (settings.MinHits <= 1)
            {
                track.Confirmed = true;
                track.ReportedScore = detection.Confidence;
                track.ReportedAt = frame.Time;
                changes.Add(new TrackChange(TrackChangeKind.Entered, track, detection, track.TakeFrames()));
                detections[d] = detection with { TrackId = track.Id };
            }
        }
    }

    /// <summary>The last frame this camera's tracker was shown (set by the caller; the vehicle of its closing events).</summary>
    public FrameMetadata? LastFrame { get; set; }

    /// <summary>The tracker stops (shutdown): every confirmed track leaves now, tentative ones vanish; none is kept.</summary>
    public void Close(List<TrackChange> changes)
    {
        foreach (var track in _tracks)
        {
            if (track.Confirmed)
            {
                changes.Add(new TrackChange(TrackChangeKind.Left, track, null, track.TakeFrames()));
            }
        }

        _tracks.Clear();
    }

    /// <summary>Lets time pass without detections (a skipped frame): tracks not seen for long enough leave.</summary>
    public void Age(DateTimeOffset now, List<TrackChange> changes)
    {
        if (now > _latest)
        {
            _latest = now;
        }

        for (var t = _tracks.Count - 1; t >= 0; t--)
        {
            var track = _tracks[t];
            if (now - track.LastSeen.Time < settings.LeftAfter)
            {
                continue;
            }

            _tracks.RemoveAt(t);
            if (track.Confirmed)
            {
                changes.Add(new TrackChange(TrackChangeKind.Left, track, null, track.TakeFrames()));
            }
        }
    }
}
