using System.ComponentModel;
using System.Diagnostics;
using Detektor.Bus.Abstractions;
using Detektor.Bus.Backpressure;
using Detektor.Bus.Lifecycle;
using Detektor.Capture.Ffmpeg;
using Detektor.Capture.Telemetry;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Telemetry;
using Detektor.Core.Tracing;
using Microsoft.Extensions.Logging;

namespace Detektor.Capture.Cameras;

/// <summary>
/// Reads one camera forever: starts ffmpeg, turns each raw frame into a tracked frame (id, metadata, root span,
/// <c>captured</c> and <c>queued</c> events) and publishes it; when the stream ends, fails or stalls it kills ffmpeg and
/// reconnects with back-off, and never gives up.
/// </summary>
public sealed partial class CameraWorker
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
    private readonly Random _random = new();
    private readonly IBackpressureGate? _gate;
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
        IBackpressureGate? gate = null)
    {
        _gate = gate;
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
    }

    private CameraOptions Camera => _status.Options;

    public async Task RunAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        var frameSize = Camera.Width * Camera.Height * PixelFormats.BytesPerPixel(PixelFormats.Rgb24);
        var arguments = FfmpegArguments.Build(Camera);
        while (!stoppingToken.IsCancellationRequested)
        {
            Transition(CameraState.Connecting);
            var stalled = false;
            string? error = null;
            var framesThisConnection = 0L;
            await using (var source = new FfmpegFrameSource(_options.FfmpegPath, arguments, Camera.Name, _logger, _time))
            {
                try
                {
                    source.Start();
                    using var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    while (true)
                    {
                        var buffer = _pool.Rent(frameSize);
                        bool read;
                        try
                        {
                            readTimeout.CancelAfter(TimeSpan.FromSeconds(_options.StallTimeoutSeconds));
                            read = await source.ReadFrameAsync(buffer.Memory, readTimeout.Token);
                        }
                        catch
                        {
                            buffer.Release();
                            throw;
                        }

                        if (!read)
                        {
                            buffer.Release();
                            error = source.LastError ?? "the stream ended";
                            break;
                        }

                        if (framesThisConnection++ == 0)
                        {
                            failures = 0;
                            Transition(CameraState.Streaming);
                        }

                        await PublishFrameAsync(buffer, stoppingToken);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
                catch (OperationCanceledException)
                {
                    stalled = true;
                    error = $"no frame for {_options.StallTimeoutSeconds:0.#} s";
                }
                catch (Win32Exception ex)
                {
                    error = $"ffmpeg could not be started ('{_options.FfmpegPath}'): {ex.Message}";
                }
                catch (Exception ex) when (ex is IOException or InvalidOperationException)
                {
                    error = source.LastError ?? ex.Message;
                }
            }

            // The ffmpeg process is gone (killed by DisposeAsync); wait, then try again.
            Transition(stalled ? CameraState.Stalled : CameraState.Reconnecting, error);
            _status.RecordReconnect();
            _telemetry.RecordReconnect(Camera.Name);
            var delay = ReconnectBackoff.Delay(failures++, _random);
            Log.Reconnecting(_logger, Camera.Name, _status.LastError ?? "unknown", delay.TotalSeconds);
            if (stalled)
            {
                Transition(CameraState.Reconnecting);
            }

            try
            {
                await Task.Delay(delay, _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Transition(CameraState.Stopped);
    }

    private async Task PublishFrameAsync(FrameBuffer buffer, CancellationToken stoppingToken)
    {
        var captureTime = _time.GetUtcNow();
        var sequence = ++_sequence;
        var id = _ids.Next(Camera.Name, sequence);

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
        }

        var metadata = new FrameMetadata
        {
            FrameId = id,
            CameraId = Camera.Name,
            CaptureTime = captureTime,
            Width = Camera.Width,
            Height = Camera.Height,
            PixelFormat = PixelFormats.Rgb24,
            SizeBytes = buffer.Length,
            Sequence = sequence,
            Trace = trace,
        };
        _status.RecordFrame(captureTime);
        await _recorder.RecordAsync(FrameEvent.Create(FrameEventType.Captured, metadata, Stages.Capture, _service.Name, captureTime, root), CancellationToken.None);
        if (_gate is not null && !_gate.TryAdmit(Camera.Name))
        {
            // The bus is filling up: lower the rate at the source (recorded as skipped, reason backpressure).
            buffer.Release();
            await _gate.RecordSkippedAsync(metadata, root, CancellationToken.None);
            return;
        }

        var message = new FrameMessage(metadata, buffer);
        await _recorder.RecordAsync(FrameEvent.Create(FrameEventType.Queued, metadata, Stages.Bus, _service.Name, _time.GetUtcNow(), root), CancellationToken.None);
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
            throw new OperationCanceledException("Capture stopped while publishing.", ex, stoppingToken);
        }
    }

    private void Transition(CameraState state, string? error = null)
    {
        var before = _status.State;
        _status.SetState(state, error);
        if (before != state)
        {
            _telemetry.RecordTransition(Camera.Name, state);
            Log.StateChanged(_logger, Camera.Name, before, state);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Camera {Camera}: {From} -> {To}")]
        public static partial void StateChanged(ILogger logger, string camera, CameraState from, CameraState to);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Camera {Camera}: {Error}; reconnecting in {DelaySeconds:0.0} s")]
        public static partial void Reconnecting(ILogger logger, string camera, string error, double delaySeconds);
    }
}
