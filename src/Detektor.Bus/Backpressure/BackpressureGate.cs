using System.Collections.Concurrent;
using System.Diagnostics;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Lifecycle;
using Detektor.Bus.Telemetry;
using Detektor.Core;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Bus.Backpressure;

/// <summary>What capture asks before it publishes a frame: lower the rate at the source when the bus is filling up.</summary>
public interface IBackpressureGate
{
    /// <summary>False when the frame should not be published (the breaker is open and this frame is not one of the share still admitted).</summary>
    bool TryAdmit(string cameraId);

    /// <summary>
    /// Records a frame <see cref="TryAdmit"/> turned away: <c>skipped</c> at capture with reason <c>backpressure</c>, and a
    /// skipped result so the store closes the frame's journey (<c>stored</c>, outcome skipped).
    /// </summary>
    ValueTask RecordSkippedAsync(FrameMetadata metadata, Activity? span, CancellationToken cancellationToken = default);

    BreakerStatus Status { get; }
}

/// <summary>The breaker as <c>GET /api/v1/bus</c> shows it.</summary>
/// <param name="State"><c>closed</c> or <c>open</c>.</param>
/// <param name="Level"><c>normal</c> (below warn), <c>warning</c> (from warn), <c>critical</c> (from high).</param>
/// <param name="Fill">Undelivered frames / capacity of the fullest frames topic, 0–1.</param>
/// <param name="Since">When the breaker last changed state.</param>
/// <param name="Opened">How often it opened since the process started.</param>
/// <param name="LowWatermark">Closes below this fill.</param>
/// <param name="WarnWatermark">Health degraded from this fill.</param>
/// <param name="HighWatermark">Opens at this fill.</param>
/// <param name="OpenAdmitRatio">Share of frames capture still publishes while open.</param>
/// <param name="Enabled">False when capture does not consult the breaker.</param>
public sealed record BreakerStatus(
    string State, string Level, double Fill, DateTimeOffset Since, long Opened, double LowWatermark, double WarnWatermark, double HighWatermark, double OpenAdmitRatio,
    bool Enabled);

/// <summary>
/// The backpressure breaker: hysteresis between the high watermark (opens) and the low one (closes), evaluated from the
/// bus snapshot. While open, each camera keeps <see cref="BackpressureOptions.OpenAdmitRatio"/> of its frames, evenly
/// spread (a credit counter per camera), so processing still sees every camera at a lower rate.
/// </summary>
public sealed partial class BackpressureGate : IBackpressureGate
{
    private readonly IFrameBus _bus;
    private readonly BackpressureOptions _options;
    private readonly BusTelemetry _telemetry;
    private readonly ILifecycleRecorder _recorder;
    private readonly ServiceIdentity _service;
    private readonly TimeProvider _time;
    private readonly ILogger<BackpressureGate> _logger;
    private readonly ConcurrentDictionary<string, double> _credits = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private volatile bool _open;
    private double _fill;
    private long _lastEvaluated;
    private long _opened;
    private DateTimeOffset _since;

    public BackpressureGate(
        IFrameBus bus,
        IOptions<BackpressureOptions> options,
        BusTelemetry telemetry,
        ILifecycleRecorder recorder,
        ServiceIdentity service,
        TimeProvider time,
        ILogger<BackpressureGate> logger)
    {
        _bus = bus;
        _options = options.Value;
        _telemetry = telemetry;
        _recorder = recorder;
        _service = service;
        _time = time;
        _logger = logger;
        _since = time.GetUtcNow();
        telemetry.ObserveBreaker(() => _open ? 1 : 0, () => Volatile.Read(ref _fill));
    }

    public BreakerStatus Status
    {
        get
        {
            Evaluate(force: false);
            var fill = Volatile.Read(ref _fill);
            var level = fill >= _options.HighWatermark ? "critical" : fill >= _options.WarnWatermark ? "warning" : "normal";
            lock (_lock)
            {
                return new BreakerStatus(
                    _open ? "open" : "closed", level, Math.Round(fill, 4), _since, Interlocked.Read(ref _opened),
                    _options.LowWatermark, _options.WarnWatermark, _options.HighWatermark, _options.OpenAdmitRatio, _options.Enabled);
            }
        }
    }

    public bool IsOpen
    {
        get
        {
            Evaluate(force: false);
            return _open;
        }
    }

    public bool TryAdmit(string cameraId)
    {
        if (!_options.Enabled)
        {
            return true;
        }

        Evaluate(force: false);
        if (!_open)
        {
            return true;
        }

        var admitted = false;
        _credits.AddOrUpdate(
            cameraId,
            (_, ratio) =>
            {
                admitted = ratio >= 1;
                return admitted ? ratio - 1 : ratio;
            },
            (_, credit, ratio) =>
            {
                credit += ratio;
                admitted = credit >= 1;
                return admitted ? credit - 1 : credit;
            },
            _options.OpenAdmitRatio);
        return admitted;
    }

    public ValueTask RecordSkippedAsync(FrameMetadata metadata, Activity? span, CancellationToken cancellationToken = default) =>
        CaptureSkip.RecordAsync(_recorder, _bus, _service, metadata, span, SkipReasons.Backpressure, _time.GetUtcNow(), cancellationToken);

    /// <summary>Re-reads the fill (at most every EvaluateIntervalMs unless forced) and moves the breaker.</summary>
    public void Evaluate(bool force)
    {
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastEvaluated);
        if (!force && last != 0 && _time.GetElapsedTime(last, now).TotalMilliseconds < _options.EvaluateIntervalMs)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _lastEvaluated, now, last) != last)
        {
            return; // another thread evaluates
        }

        var fill = _bus.PerishableFill();
        Volatile.Write(ref _fill, fill);
        lock (_lock)
        {
            if (!_open && fill >= _options.HighWatermark)
            {
                _open = true;
                _since = _time.GetUtcNow();
                Interlocked.Increment(ref _opened);
                _credits.Clear();
                _telemetry.RecordBreakerTransition("open");
                Log.Opened(_logger, fill, _options.HighWatermark, _options.OpenAdmitRatio);
            }
            else if (_open && fill < _options.LowWatermark)
            {
                _open = false;
                _since = _time.GetUtcNow();
                _telemetry.RecordBreakerTransition("closed");
                Log.Closed(_logger, fill, _options.LowWatermark);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4201, Level = LogLevel.Warning, Message = "Backpressure breaker opened: frames queue {Fill:P0} full (high watermark {High:P0}); capture keeps {Ratio:P0} of frames")]
        public static partial void Opened(ILogger logger, double fill, double high, double ratio);

        [LoggerMessage(EventId = 4202, Level = LogLevel.Information, Message = "Backpressure breaker closed: frames queue {Fill:P0} full (below low watermark {Low:P0})")]
        public static partial void Closed(ILogger logger, double fill, double low);
    }
}
