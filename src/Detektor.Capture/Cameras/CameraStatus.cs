using Detektor.Core.Buffers;
using Detektor.Core.Messages;
using Detektor.Core.Security;

namespace Detektor.Capture.Cameras;

/// <summary>
/// Live state of one camera, written by its <see cref="CameraWorker"/> and read by the API, health checks and metrics:
/// state and recent transitions, frame rate, last frame (kept as a pooled buffer for snapshots), decode errors, reconnects.
/// </summary>
public sealed class CameraStatus : IDisposable
{
    /// <summary>How many transitions <see cref="RecentTransitions"/> keeps.</summary>
    public const int TransitionHistory = 32;

    private readonly Lock _gate = new();
    private readonly long[] _recentFrames = new long[32];
    private readonly EventWindow _decodeErrorTimes = new(256);
    private readonly EventWindow _reconnectTimes = new(64);
    private readonly CameraTransition?[] _transitions = new CameraTransition?[TransitionHistory];
    private int _transitionNext;
    private int _transitionCount;
    private int _recentCount;
    private int _recentNext;
    private long _frames;
    private long _reconnects;
    private long _decodeErrors;
    private FrameBuffer? _latest;
    private LatestFrameInfo? _latestInfo;

    public CameraStatus(CameraOptions options, TimeProvider time)
    {
        Options = options;
        Time = time;
        MaskedUrl = SecretMasker.MaskSecrets(options.Url);
        StateSince = time.GetUtcNow();
    }

    public CameraOptions Options { get; }

    public string Name => Options.Name;

    /// <summary>The URL with passwords and tokens masked: the only form that leaves the process.</summary>
    public string MaskedUrl { get; }

    public CameraState State { get; private set; } = CameraState.Connecting;

    public DateTimeOffset StateSince { get; private set; }

    public DateTimeOffset? LastFrameAt { get; private set; }

    public long FramesCaptured => Interlocked.Read(ref _frames);

    /// <summary>Reconnect attempts since start.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>ffmpeg decode-error lines since start (<see cref="Ffmpeg.FfmpegStderr.IsDecodeError"/>).</summary>
    public long DecodeErrors => Interlocked.Read(ref _decodeErrors);

    /// <summary>The last failure, masked.</summary>
    public string? LastError { get; private set; }

    /// <summary>Motion score of the last frame (null before the background is established).</summary>
    public double? LastMotionScore { get; private set; }

    public TimeProvider Time { get; }

    /// <summary>Frames per second over the last (up to) 32 frames; 0 when no frame arrived in the last 5 s.</summary>
    public double MeasuredFps
    {
        get
        {
            lock (_gate)
            {
                if (_recentCount < 2)
                {
                    return 0;
                }

                var newest = _recentFrames[(_recentNext - 1 + _recentFrames.Length) % _recentFrames.Length];
                var oldest = _recentFrames[(_recentNext - _recentCount + _recentFrames.Length) % _recentFrames.Length];
                if (Time.GetElapsedTime(newest) > TimeSpan.FromSeconds(5))
                {
                    return 0;
                }

                var span = Time.GetElapsedTime(oldest, newest).TotalSeconds;
                return span <= 0 ? 0 : (_recentCount - 1) / span;
            }
        }
    }

    /// <summary>The last transitions, oldest first (at most <see cref="TransitionHistory"/>).</summary>
    public IReadOnlyList<CameraTransition> RecentTransitions
    {
        get
        {
            lock (_gate)
            {
                var list = new List<CameraTransition>(_transitionCount);
                for (var i = _transitionCount; i > 0; i--)
                {
                    list.Add(_transitions[(_transitionNext - i + TransitionHistory) % TransitionHistory]!);
                }

                return list;
            }
        }
    }

    /// <summary>Decode errors within the last <paramref name="window"/>.</summary>
    public int DecodeErrorsWithin(TimeSpan window)
    {
        lock (_gate)
        {
            return _decodeErrorTimes.CountWithin(Time, window);
        }
    }

    /// <summary>Reconnects within the last <paramref name="window"/>.</summary>
    public int ReconnectsWithin(TimeSpan window)
    {
        lock (_gate)
        {
            return _reconnectTimes.CountWithin(Time, window);
        }
    }

    /// <summary>
    /// Takes a reference to the newest frame's pixels (the caller must <see cref="FrameBuffer.Release"/> it), or null when
    /// no frame has arrived yet.
    /// </summary>
    public (FrameBuffer Pixels, LatestFrameInfo Info)? AcquireLatestFrame()
    {
        lock (_gate)
        {
            return _latest is null || _latestInfo is null ? null : (_latest.AddRef(), _latestInfo);
        }
    }

    /// <summary>Changes state; returns the transition, or null when the state did not change.</summary>
    internal CameraTransition? SetState(CameraState state, string reason, string? detail)
    {
        var masked = detail is null ? null : SecretMasker.MaskSecrets(detail);
        lock (_gate)
        {
            if (State == state)
            {
                return null;
            }

            var now = Time.GetUtcNow();
            var transition = new CameraTransition(State, state, now, reason, masked);
            _transitions[_transitionNext] = transition;
            _transitionNext = (_transitionNext + 1) % TransitionHistory;
            _transitionCount = Math.Min(_transitionCount + 1, TransitionHistory);
            State = state;
            StateSince = now;
            if (state is CameraState.Stalled or CameraState.Reconnecting && masked is not null)
            {
                LastError = masked;
            }

            return transition;
        }
    }

    /// <summary>Records a frame; keeps a reference to its pixels as the latest frame (the previous one is released).</summary>
    internal void RecordFrame(FrameBuffer pixels, LatestFrameInfo info)
    {
        Interlocked.Increment(ref _frames);
        var latest = pixels.AddRef();
        FrameBuffer? previous;
        lock (_gate)
        {
            LastFrameAt = info.CaptureTime;
            LastMotionScore = info.MotionScore;
            _recentFrames[_recentNext] = Time.GetTimestamp();
            _recentNext = (_recentNext + 1) % _recentFrames.Length;
            _recentCount = Math.Min(_recentCount + 1, _recentFrames.Length);
            previous = _latest;
            _latest = latest;
            _latestInfo = info;
        }

        previous?.Release();
    }

    internal void RecordReconnect()
    {
        Interlocked.Increment(ref _reconnects);
        lock (_gate)
        {
            _reconnectTimes.Add(Time.GetTimestamp());
        }
    }

    internal void RecordDecodeErrors(int count)
    {
        Interlocked.Add(ref _decodeErrors, count);
        lock (_gate)
        {
            for (var i = 0; i < count; i++)
            {
                _decodeErrorTimes.Add(Time.GetTimestamp());
            }
        }
    }

    /// <summary>Releases the latest frame's pixels back to the pool.</summary>
    public void Dispose()
    {
        FrameBuffer? latest;
        lock (_gate)
        {
            latest = _latest;
            _latest = null;
            _latestInfo = null;
        }

        latest?.Release();
    }

    /// <summary>Timestamps of the last N events, to count how many fell within a window.</summary>
    private sealed class EventWindow(int capacity)
    {
        private readonly long[] _times = new long[capacity];
        private int _next;
        private int _count;

        public void Add(long timestamp)
        {
            _times[_next] = timestamp;
            _next = (_next + 1) % _times.Length;
            _count = Math.Min(_count + 1, _times.Length);
        }

        public int CountWithin(TimeProvider time, TimeSpan window)
        {
            var n = 0;
            for (var i = 1; i <= _count; i++)
            {
                if (time.GetElapsedTime(_times[(_next - i + _times.Length) % _times.Length]) > window)
                {
                    break;
                }

                n++;
            }

            return n;
        }
    }
}

/// <summary>What is known about the latest frame besides its pixels.</summary>
public sealed record LatestFrameInfo(
    int Width, int Height, DateTimeOffset CaptureTime, long Sequence, double? MotionScore, IReadOnlyList<BoundingBox>? MotionBoxes,
    string PixelFormat = Core.Frames.PixelFormats.Rgb24);

/// <summary>All cameras of this process.</summary>
public sealed class CameraRegistry : IDisposable
{
    private readonly List<CameraStatus> _cameras = [];
    private readonly Lock _gate = new();

    public IReadOnlyList<CameraStatus> All
    {
        get
        {
            lock (_gate)
            {
                return [.. _cameras];
            }
        }
    }

    public CameraStatus? Find(string name)
    {
        lock (_gate)
        {
            return _cameras.Find(c => string.Equals(c.Name, name, StringComparison.Ordinal));
        }
    }

    internal void Add(CameraStatus status)
    {
        lock (_gate)
        {
            _cameras.Add(status);
        }
    }

    public void Dispose()
    {
        foreach (var camera in All)
        {
            camera.Dispose();
        }
    }
}
