using System.Diagnostics;
using Detektor.Bus.Abstractions;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;

namespace Detektor.Bus.Tests;

/// <summary>Frames, results and events to publish, and ways to read them back.</summary>
public static class TestFrames
{
    public const int Width = 64;
    public const int Height = 48;
    private static long _clock = DateTimeOffset.Parse("2026-11-23T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds() * 1000;

    /// <summary>
    /// A 64x48 rgb24 frame by default (9216 bytes: more than a Redis stream node holds, so MAXLEN ~ trims entry by entry);
    /// its pixels are <see cref="ExpectedPixels"/> of the sequence.
    /// </summary>
    public static FrameMessage Frame(string camera, long sequence, int width = Width, int height = Height)
    {
        var micros = Interlocked.Add(ref _clock, 40_000);
        var pixels = ExpectedPixels(sequence, width, height);

        var metadata = new FrameMetadata
        {
            FrameId = new FrameId(micros, camera, sequence, 0x1234abcd),
            CameraId = camera,
            CaptureTime = DateTimeOffset.FromUnixTimeMilliseconds(micros / 1000),
            Width = width,
            Height = height,
            PixelFormat = PixelFormats.Rgb24,
            SizeBytes = pixels.Length,
            Sequence = sequence,
            Trace = new TraceInfo(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), default, ActivityTraceFlags.Recorded, "vendor=detektor"),
        };
        return new FrameMessage(metadata, FrameBuffer.Wrap(pixels));
    }

    public static byte[] ExpectedPixels(long sequence, int width = Width, int height = Height)
    {
        var pixels = new byte[width * height * 3];
        for (var i = 0; i < pixels.Length; i++)
        {
            pixels[i] = (byte)((sequence * 7 + i) % 251);
        }

        return pixels;
    }

    public static FrameResult Result(FrameMessage frame, FrameOutcome outcome = FrameOutcome.Processed) => new()
    {
        Metadata = frame.Metadata,
        Outcome = outcome,
        Reason = outcome == FrameOutcome.Processed ? null : "no_motion",
        Detections = [new Detection("person", 0.87f, new BoundingBox(1, 2, 30, 40)) { ClassId = 0, Source = "objects", TrackId = "t-1" }],
        CompletedAt = frame.Metadata.CaptureTime.AddMilliseconds(12),
    };

    public static FrameEvent Event(FrameMessage frame, FrameEventType type = FrameEventType.Captured, string? reason = null) =>
        FrameEvent.Create(type, frame.Metadata, Stages.Capture, "detektor-test", frame.Metadata.CaptureTime, reason: reason, data: "{\"n\":1}");

    /// <summary>Reads until <paramref name="count"/> deliveries arrived (fails after <paramref name="timeout"/>).</summary>
    public static async Task<List<BusDelivery<T>>> ReadAsync<T>(IBusSubscription<T> subscription, int count, TimeSpan? timeout = null)
        where T : class
    {
        var list = new List<BusDelivery<T>>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            while (list.Count < count)
            {
                await subscription.ReadAsync(list, count - list.Count, cts.Token);
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"Read {list.Count} of {count} messages from '{subscription.Topic}' before the timeout.");
        }

        return list;
    }

    /// <summary>Everything delivered within <paramref name="window"/> (to show that nothing more comes).</summary>
    public static async Task<List<BusDelivery<T>>> ReadForAsync<T>(IBusSubscription<T> subscription, TimeSpan window, int max = 1000)
        where T : class
    {
        var list = new List<BusDelivery<T>>();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(window);
        try
        {
            while (list.Count < max)
            {
                await subscription.ReadAsync(list, max - list.Count, cts.Token);
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
        }

        return list;
    }
}
