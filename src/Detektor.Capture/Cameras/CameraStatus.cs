using Detektor.Core.Security;

namespace Detektor.Capture.Cameras;

/// <summary>Live state of one camera, updated by its worker and read by the API, health checks and metrics.</summary>
public sealed class CameraStatus
{
    private readonly Lock _gate = new();
    private readonly long[] _recentFrames = new long[32];
    private int _recentCount;
    private int _recentNext;
    private long _frames;
    private long _reconnects;

    public CameraStatus(CameraOptions options, TimeProvider time)
    {
        Options = options;
        Time = time;
        MaskedUrl = SecretMasker.MaskSecrets(options.Url);
    }

    public CameraOptions Options { get; }

    public string Name => Options.Name;

    public string MaskedUrl { get; }

    public CameraState State { get; private set; } = CameraState.Connecting;

    public DateTimeOffset? LastFrameAt { get; private set; }

    public DateTimeOffset StateSince { get; private set; }

    public long FramesCaptured => Interlocked.Read(ref _frames);

    public long Reconnects => Interlocked.Read(ref _reconnects);

    public string? LastError { get; private set; }

    internal TimeProvider Time { get; }

    /// <summary>Frames per second over the last few seconds (0 when no frame arrived in the last 5 s).</summary>
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
                var now = Time.GetTimestamp();
                if (Time.GetElapsedTime(newest, now) > TimeSpan.FromSeconds(5))
                {
                    return 0;
                }

                var span = Time.GetElapsedTime(oldest, newest).TotalSeconds;
                return span <= 0 ? 0 : (_recentCount - 1) / span;
            }
        }
    }

    internal void SetState(CameraState state, string? error = null)
    {
        lock (_gate)
        {
            if (State != state)
            {
                State = state;
                StateSince = Time.GetUtcNow();
            }

            if (error is not null)
            {
                LastError = SecretMasker.MaskSecrets(error);
            }
        }
    }

    internal void RecordFrame(DateTimeOffset at)
    {
        Interlocked.Increment(ref _frames);
        lock (_gate)
        {
            LastFrameAt = at;
            _recentFrames[_recentNext] = Time.GetTimestamp();
            _recentNext = (_recentNext + 1) % _recentFrames.Length;
            _recentCount = Math.Min(_recentCount + 1, _recentFrames.Length);
        }
    }

    internal void RecordReconnect() => Interlocked.Increment(ref _reconnects);
}

/// <summary>All cameras of this process.</summary>
public sealed class CameraRegistry
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
}
