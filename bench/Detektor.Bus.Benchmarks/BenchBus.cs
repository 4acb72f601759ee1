using System.Diagnostics;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Core.Tracing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Detektor.Bus.Benchmarks;

/// <summary>Builds a bus exactly as the app does (AddFrameBus) and the messages the benchmarks send.</summary>
internal static class BenchBus
{
    /// <summary>
    /// A host with the bus. <paramref name="framesRetained"/>: buffers the frame pool keeps per size (the app's default
    /// 16 when null); a consumer that holds a batch of 100 frames at once needs 100, or the pool allocates the rest anew.
    /// </summary>
    public static async Task<IHost> StartAsync(Dictionary<string, string?> settings, int? framesRetained = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // The lifecycle spill lives under the data directory: a temp one, not ./data of wherever the benchmark runs.
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Detektor:DataDir"] = DataDir });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddSingleton(new ServiceIdentity("detektor-bench", instanceId: "bench"));
        builder.Services.AddMetrics();
        builder.Services.AddLogging(l => l.SetMinimumLevel(LogLevel.Error).AddConsole());
        if (framesRetained is { } retained)
        {
            builder.Services.AddSingleton(new FrameBufferPool(retained));
        }

        builder.AddFrameBus();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static readonly string DataDir = Directory.CreateTempSubdirectory("detektor-bench-bus").FullName;

    private static long _micros = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;

    public static FrameMetadata Metadata(long sequence, int width, int height) => new()
    {
        FrameId = new FrameId(Interlocked.Increment(ref _micros), "bench", sequence, 0xbe4c4000),
        CameraId = "bench",
        CaptureTime = DateTimeOffset.UtcNow,
        Width = width,
        Height = height,
        SizeBytes = width * height * 3,
        Sequence = sequence,
        Trace = new TraceInfo(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), default, ActivityTraceFlags.Recorded, null),
    };

    /// <summary>A lifecycle event whose <c>data</c> pads the message body to about <paramref name="bytes"/>.</summary>
    public static FrameEvent Event(long sequence, int bytes)
    {
        var padding = Math.Max(0, bytes - 420);
        return FrameEvent.Create(FrameEventType.Captured, Metadata(sequence, 8, 8), Stages.Capture, "bench", DateTimeOffset.UtcNow,
            data: "{\"pad\":\"" + new string('x', padding) + "\"}");
    }

    public static FrameMessage Frame(long sequence, int width, int height, FrameBufferPool pool)
    {
        var buffer = pool.Rent(width * height * 3);
        buffer.Span.Fill((byte)sequence);
        return new FrameMessage(Metadata(sequence, width, height), buffer);
    }
}
