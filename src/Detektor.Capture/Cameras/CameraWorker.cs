using System.ComponentModel;
using System.Diagnostics;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.Lifecycle;
using Detektor.Capture.Ffmpeg;
using Detektor.Capture.Motion;
using Detektor.Capture.Telemetry;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Security;
using Detektor.Core.Telemetry;
using Detektor.Core.Tracing;
using Microsoft.Extensions.Logging;

namespace Detektor.Capture.Cameras;

/// <summary>
/// Reads one camera forever — the reconnect state machine:
/// <code>
/// connecting ──first frame──▶ streaming ──no frame for StallTimeout──▶ stalled ──▶ reconnecting
///     │  └──no first frame within ConnectTimeout──▶ stalled ──▶ reconnecting        ▲       │
///     └──ffmpeg exits / cannot start──────────────────────────────────────────────────┘       │
///     ◀────────────────────────────── back-off 1, 2, 5, 10, 20, 30 s (±20 %) ◀───────────────┘
/// </code>
/// Each connection is one ffmpeg child process writing raw frames (yuv420p by default) of the camera's size and rate; every
/// frame gets an id, metadata (with its motion score), a root span and <c>captured</c>/<c>queued</c> lifecycle events, and is
/// published on the frames topic in a pooled buffer — unless the capture gate (detection's motion gate and detect fps) or the
/// backpressure breaker skips it here, recorded with its reason. It never gives up; only shutdown (or the end of a file that does not loop)
/// stops it. Every transition is logged, counted, and kept in <see cref="CameraStatus.RecentTransitions"/>.
/// </summary>
public sealed class CameraWorker
{
    private readonly CameraStatus _status;
    private readonly CaptureOptions _options;
    private readonly IFrameBus _bus;
    private readonly ILifecycleRecorder _recorder;
    private readonly FrameIdGenerator _ids;
    private readonly FrameBufferPool _pool;
    private readonly CaptureTelemetry _telemetry;
    private readonly ServiceIdentity _service;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly MotionDetector? _motion;
    private readonly Random _random = new();
    private readonly IBackpressureGate? _gate;
    private readonly ICaptureGate? _captureGate;
    private long _sequence;

    public CameraWorker(
        CameraStatus status,
        CaptureOptions options,
        IFrameBus bus,
        ILifecycleRecorder recorder,
        FrameIdGenerator ids,
        FrameBufferPool pool,
        CaptureTelemetry telemetry,
        ServiceIdentity service,
        TimeProvider time,
        ILogger logger,
        IBackpressureGate? gate = null,
        ICaptureGate? captureGate = null)
    {
        _gate = gate;
        _captureGate = captureGate;
        _status = status;
        _options = options;
        _bus = bus;
        _recorder = recorder;
        _ids = ids;
        _pool = pool;
        _telemetry = telemetry;
        _service = service;
        _time = time;
        _logger = logger;
        if (options.Motion.Enabled)
        {
            _motion = new MotionDetector(Camera.Width, Camera.Height, options.Motion, options.PixelFormat);
        }
    }

    private CameraOptions Camera => _status.Options;

    /// <summary>How a connection ended.</summary>
    private enum ConnectionEnd
    {
        Stopped,
        Stalled,
        Exited,
        StartFailed,
        EndOfFile,
    }

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var attempt = 0;
        var reason = TransitionReasons.Start;
        while (!stoppingToken.IsCancellationRequested)
        {
            Transition(CameraState.Connecting, reason, null);
            var (end, detail, streamedFor) = await RunConnectionAsync(stoppingToken);
            if (end == ConnectionEnd.Stopped || stoppingToken.IsCancellationRequested)
            {
                break;
            }

            if (end == ConnectionEnd.EndOfFile)
            {
                Transition(CameraState.Stopped, TransitionReasons.EndOfFile, detail);
                return;
            }

            // A connection that streamed for a while was a good one: the next failure starts the back-off afresh.
            if (streamedFor >= TimeSpan.FromSeconds(10))
            {
                attempt = 0;
            }

            var endReason = end switch
            {
                ConnectionEnd.Stalled when streamedFor > TimeSpan.Zero => TransitionReasons.Stall,
                ConnectionEnd.Stalled => TransitionReasons.NoFirstFrame,
                ConnectionEnd.StartFailed => TransitionReasons.FfmpegStartFailed,
                _ => TransitionReasons.FfmpegExited,
            };
            if (end == ConnectionEnd.Stalled)
            {
                Transition(CameraState.Stalled, endReason, detail);
            }

            var delay = ReconnectBackoff.Delay(attempt, _random);
            Transition(CameraState.Reconnecting, endReason, detail);
            _status.RecordReconnect();
            _telemetry.RecordReconnect(Camera.Name);
            Log.Reconnecting(_logger, Camera.Name, detail, delay.TotalSeconds, attempt + 1);
            attempt++;
            reason = TransitionReasons.Retry;
            try
            {
                await Task.Delay(delay, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        _motion?.Reset();
        Transition(CameraState.Stopped, TransitionReasons.Shutdown, null);
    }

    /// <summary>One ffmpeg process, from start to its end. Returns how it ended, why (masked), and how long it streamed.</summary>
    private async Task<(ConnectionEnd End, string Detail, TimeSpan StreamedFor)> RunConnectionAsync(CancellationToken stoppingToken)
    {
        var frameSize = PixelFormats.FrameBytes(_options.PixelFormat, Camera.Width, Camera.Height);
        var stallTimeout = _options.StallTimeoutFor(Camera);
        var connectTimeout = _options.ConnectTimeoutFor(Camera);
        var arguments = FfmpegArguments.Build(Camera, stallTimeout + TimeSpan.FromSeconds(5), _options.PixelFormat);
        var stderr = new FfmpegStderr(Camera.Name, _logger, _time, OnDecodeErrors);
        _motion?.Reset();

        Activity.Current = null;
        var connectSpan = CaptureTelemetry.ActivitySource.StartActivity(CaptureTelemetry.ConnectSpanName, ActivityKind.Client);
        if (connectSpan is { IsAllDataRequested: true })
        {
            connectSpan.SetTag(SemanticAttributes.CameraId, Camera.Name);
            connectSpan.SetTag("url.full", _status.MaskedUrl);
        }

        Activity.Current = null;
        var connectionStart = _time.GetTimestamp();
        long streamingSince = 0;
        var frames = 0L;
        await using var source = new FfmpegFrameSource(_options.FfmpegPath, arguments, stderr);
        using var watchdog = new CancellationTokenSource(Timeout.InfiniteTimeSpan, _time);
        await using var stopRegistration = stoppingToken.Register(static s => ((CancellationTokenSource)s!).Cancel(), watchdog);
        await using var killRegistration = watchdog.Token.Register(static s => ((FfmpegFrameSource)s!).Kill(), source);
        try
        {
            return await ReadFramesAsync();
        }
        finally
        {
            connectSpan?.Dispose();
        }

        async Task<(ConnectionEnd End, string Detail, TimeSpan StreamedFor)> ReadFramesAsync()
        {
            try
            {
                source.Start();
            }
            catch (Win32Exception ex)
            {
                var detail = SecretMasker.MaskSecrets($"ffmpeg could not be started from '{_options.FfmpegPath}': {ex.Message}");
                connectSpan?.SetStatus(ActivityStatusCode.Error, detail);
                return (ConnectionEnd.StartFailed, detail, TimeSpan.Zero);
            }

            source.StartReading(_pool, frameSize, $"ffmpeg:{Camera.Name}");
            while (true)
            {
                FrameBuffer? buffer;
                try
                {
                    watchdog.CancelAfter(frames == 0 ? connectTimeout : stallTimeout);
                    buffer = await source.ReadFrameAsync(watchdog.Token);
                }
                catch (OperationCanceledException)
                {
                    // The watchdog fired (or shutdown): the process is being killed.
                    buffer = null;
                }

                if (buffer is null)
                {
                    break;
                }

                // The watchdog times the camera, not the pipeline behind it: publishing may wait on a full queue.
                watchdog.CancelAfter(Timeout.InfiniteTimeSpan);
                if (frames++ == 0)
                {
                    streamingSince = _time.GetTimestamp();
                    var waited = _time.GetElapsedTime(connectionStart);
                    connectSpan?.SetTag("camera.connect.seconds", Math.Round(waited.TotalSeconds, 3));
                    connectSpan?.Dispose();
                    connectSpan = null;
                    Transition(CameraState.Streaming, TransitionReasons.FirstFrame, $"first frame after {waited.TotalSeconds:0.0} s");
                    Log.Streaming(_logger, Camera.Name, _status.MaskedUrl, Camera.Width, Camera.Height, Camera.Fps);
                }

                await PublishFrameAsync(buffer, stoppingToken);
            }

            var streamedFor = frames > 0 ? _time.GetElapsedTime(streamingSince) : TimeSpan.Zero;
            if (stoppingToken.IsCancellationRequested)
            {
                return (ConnectionEnd.Stopped, "shutdown", streamedFor);
            }

            if (watchdog.IsCancellationRequested)
            {
                var limit = frames == 0 ? connectTimeout : stallTimeout;
                var detail = frames == 0
                    ? $"no first frame within {limit.TotalSeconds:0.#} s; ffmpeg killed ({stderr.LastError ?? "it said nothing"})"
                    : $"no frame for {limit.TotalSeconds:0.#} s; ffmpeg killed";
                connectSpan?.SetStatus(ActivityStatusCode.Error, detail);
                return (ConnectionEnd.Stalled, detail, streamedFor);
            }

            // ffmpeg ended by itself: wait for its exit code and last words.
            await source.WaitForExitAsync(TimeSpan.FromSeconds(5));
            var exitCode = source.ExitCode;
            if (exitCode == 0 && CameraUrl.IsFile(Camera.Url) && !Camera.Loop && frames > 0)
            {
                return (ConnectionEnd.EndOfFile, $"end of file after {frames} frames", streamedFor);
            }

            var why = stderr.LastError ?? (exitCode == 0 ? "the stream ended" : "no message");
            var exited = SecretMasker.MaskSecrets(exitCode is { } code ? $"ffmpeg exited with code {code}: {why}" : $"ffmpeg stopped: {why}");
            connectSpan?.SetStatus(ActivityStatusCode.Error, exited);
            return (ConnectionEnd.Exited, exited, streamedFor);
        }
    }

    private void OnDecodeErrors(int count)
    {
        _status.RecordDecodeErrors(count);
        _telemetry.RecordDecodeErrors(Camera.Name, count);
    }

    private async Task PublishFrameAsync(FrameBuffer buffer, CancellationToken stoppingToken)
    {
        var captureTime = _time.GetUtcNow();
        var sequence = ++_sequence;
        var id = _ids.Next(Camera.Name, sequence);

        double? motionScore = null;
        List<BoundingBox>? motionBoxes = null;
        if (_motion is not null)
        {
            motionScore = _motion.Analyze(buffer.Span);
            if (_motion.Boxes.Length > 0)
            {
                motionBoxes = [.. _motion.Boxes];
            }
        }

        // Each frame is the root of its own trace: never a child of whatever happens to be current.
        Activity.Current = null;
        using var root = CaptureTelemetry.ActivitySource.StartActivity(SpanNames.Frame, ActivityKind.Producer);
        var trace = root is not null
            ? TraceInfo.From(root)
            : new TraceInfo(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), default, ActivityTraceFlags.None, null);
        if (root is { IsAllDataRequested: true })
        {
            root.SetTag(SemanticAttributes.FrameId, id.ToString());
            root.SetTag(SemanticAttributes.CameraId, Camera.Name);
            root.SetTag(SemanticAttributes.FrameSequence, sequence);
            root.SetTag(SemanticAttributes.FrameWidth, Camera.Width);
            root.SetTag(SemanticAttributes.FrameHeight, Camera.Height);
            root.SetTag(SemanticAttributes.FrameSizeBytes, buffer.Length);
            root.SetTag(SemanticAttributes.PipelineStage, Stages.Capture);
            if (motionScore is { } score)
            {
                root.SetTag("frame.motion_score", score);
            }
        }

        var metadata = new FrameMetadata
        {
            FrameId = id,
            CameraId = Camera.Name,
            CaptureTime = captureTime,
            Width = Camera.Width,
            Height = Camera.Height,
            PixelFormat = _options.PixelFormat,
            SizeBytes = buffer.Length,
            Sequence = sequence,
            Trace = trace,
            MotionScore = motionScore,
            MotionBoxes = motionBoxes,
        };
        _status.RecordFrame(buffer, new LatestFrameInfo(Camera.Width, Camera.Height, captureTime, sequence, motionScore, motionBoxes, _options.PixelFormat));
        _telemetry.RecordFrame(Camera.Name);
        // The frame's events and messages go out together and are awaited together: over Redis, one round trip per frame
        // instead of one per message (the store orders a frame's events by their time, not by their arrival).
        var captured = _recorder.RecordAsync(FrameEvent.Create(FrameEventType.Captured, metadata, Stages.Capture, _service.Name, captureTime, root), CancellationToken.None);
        if (_captureGate?.SkipReason(metadata) is { } skipReason)
        {
            // Processing would skip it anyway (no motion, not due at the detect fps): its pixels need not cross the bus.
            buffer.Release();
            await ValueTasks.WhenBoth(captured, CaptureSkip.RecordAsync(_recorder, _bus, _service, metadata, root, skipReason, _time.GetUtcNow(), CancellationToken.None));
            return;
        }

        if (_gate is not null && !_gate.TryAdmit(Camera.Name))
        {
            // The bus is filling up: lower the rate at the source (recorded as skipped, reason backpressure).
            buffer.Release();
            await ValueTasks.WhenBoth(captured, _gate.RecordSkippedAsync(metadata, root, CancellationToken.None));
            return;
        }

        var message = new FrameMessage(metadata, buffer);
        var queued = _recorder.RecordAsync(FrameEvent.Create(FrameEventType.Queued, metadata, Stages.Bus, _service.Name, _time.GetUtcNow(), root), CancellationToken.None);
        try
        {
            await _bus.PublishAsync(Topics.Frames, message, stoppingToken);
        }
        catch (Exception ex) when (ex is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
        {
            message.Release();
            await _recorder.RecordAsync(
                FrameEvent.Create(FrameEventType.Dropped, metadata, Stages.Bus, _service.Name, _time.GetUtcNow(), root, reason: DropReasons.Shutdown),
                CancellationToken.None);
        }
        finally
        {
            await ValueTasks.WhenBoth(captured, queued);
        }
    }

    private void Transition(CameraState state, string reason, string? detail)
    {
        if (_status.SetState(state, reason, detail) is { } transition)
        {
            _telemetry.RecordTransition(Camera.Name, transition);
            Log.StateChanged(_logger, Camera.Name, transition.From, transition.To, transition.Reason, transition.Detail ?? string.Empty);
        }
    }
}
