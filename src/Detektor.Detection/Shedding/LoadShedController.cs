namespace Detektor.Detection.Shedding;

/// <summary>
/// Decides which frames are detected while detection cannot keep up (ADR 0005). Every frame reaching the shed stage
/// reports its queue wait; once per <see cref="LoadSheddingOptions.IntervalMs"/> the mean wait of the interval is compared
/// with the budget: above it, the shed level goes up one step at once; below <see cref="LoadSheddingOptions.RecoverRatio"/>
/// of it for <see cref="LoadSheddingOptions.RecoverSeconds"/>, it comes down one step. Cameras are grouped by priority;
/// the lowest group takes the first <see cref="LoadSheddingOptions.MaxSteps"/> levels (each halves its detect rate), the
/// next group the next ones, and so on. A camera at step s detects one frame in 2^s.
/// </summary>
public sealed class LoadShedController
{
    private readonly LoadSheddingOptions _options;
    private readonly Func<string, int> _priority;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Dictionary<string, Camera> _cameras = new(StringComparer.Ordinal);
    private int[] _priorities = [];
    private long _windowStart;
    private double _waitSumMs;
    private long _waitCount;
    private long _lowSince = -1;
    private int _level;

    public LoadShedController(LoadSheddingOptions options, Func<string, int> priority, TimeProvider time)
    {
        _options = options;
        _priority = priority;
        _time = time;
        _windowStart = time.GetTimestamp();
    }

    /// <summary>The shed level: 0 = nothing shed; each step halves one camera group's rate once more.</summary>
    public int Level
    {
        get
        {
            lock (_gate)
            {
                return _level;
            }
        }
    }

    /// <summary>
    /// Reports one frame of <paramref name="camera"/> that waited <paramref name="queueWait"/>; true when it is to be
    /// detected, false when it is shed.
    /// </summary>
    public bool Admit(string camera, TimeSpan queueWait)
    {
        lock (_gate)
        {
            if (!_cameras.TryGetValue(camera, out var state))
            {
                state = new Camera(_priority(camera));
                _cameras.Add(camera, state);
                _priorities = [.. _cameras.Values.Select(c => c.Priority).Distinct().Order()];
            }

            _waitSumMs += Math.Max(0, queueWait.TotalMilliseconds);
            _waitCount++;
            var now = _time.GetTimestamp();
            if (_time.GetElapsedTime(_windowStart, now).TotalMilliseconds >= _options.IntervalMs)
            {
                Evaluate(now);
            }

            var step = StepOf(state.Priority);
            if (step == 0)
            {
                state.Seen = 0;
                return true;
            }

            var admit = state.Seen % (1L << step) == 0;
            state.Seen++;
            return admit;
        }
    }

    /// <summary>Each camera seen so far with its current step (0 = full rate).</summary>
    public IReadOnlyList<(string Camera, int Step)> Steps()
    {
        lock (_gate)
        {
            return [.. _cameras.Select(c => (c.Key, StepOf(c.Value.Priority)))];
        }
    }

    private void Evaluate(long now)
    {
        var mean = _waitSumMs / _waitCount;
        _windowStart = now;
        _waitSumMs = 0;
        _waitCount = 0;
        var maxLevel = _priorities.Length * _options.MaxSteps;
        if (mean > _options.MaxQueueWaitMs)
        {
            _lowSince = -1;
            _level = Math.Min(_level + 1, maxLevel);
            return;
        }

        if (mean >= _options.MaxQueueWaitMs * _options.RecoverRatio || _level == 0)
        {
            _lowSince = -1;
            return;
        }

        if (_lowSince < 0)
        {
            _lowSince = now;
        }

        if (_time.GetElapsedTime(_lowSince, now).TotalSeconds >= _options.RecoverSeconds)
        {
            _level--;
            _lowSince = now; // the next step back waits as long again
        }
    }

    private int StepOf(int priority)
    {
        var group = Array.IndexOf(_priorities, priority);
        return Math.Clamp(_level - (group * _options.MaxSteps), 0, _options.MaxSteps);
    }

    private sealed class Camera(int priority)
    {
        public int Priority { get; } = priority;

        public long Seen { get; set; }
    }
}
