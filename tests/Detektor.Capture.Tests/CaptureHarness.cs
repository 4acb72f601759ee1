using System.Collections.Concurrent;
using System.Globalization;
using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Capture.Cameras;
using Detektor.Core;
using Detektor.Core.Buffers;
using Detektor.Core.Frames;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Detektor.Capture.Tests;

/// <summary>
/// The capture role in a generic host with the in-process bus, plus a consumer that takes every frame off the bus (keeping
/// its metadata, releasing its pixels) and drains the lifecycle topic. Cameras come from configuration, as in production.
/// </summary>
public sealed class CaptureHarness : IAsyncDisposable
{
    private readonly IHost _host;

    private CaptureHarness(IHost host)
    {
        _host = host;
    }

    public IServiceProvider Services => _host.Services;

    public CameraRegistry Registry => Services.GetRequiredService<CameraRegistry>();

    public FrameBufferPool Pool => Services.GetRequiredService<FrameBufferPool>();

    public FrameSink Frames => Services.GetRequiredService<FrameSink>();

    public CameraStatus Camera(string name) => Registry.Find(name) ?? throw new InvalidOperationException($"No camera '{name}'.");

    /// <summary>Configuration for cameras given as (name, url) with common test settings (small frames, quick stall detection).</summary>
    public static Dictionary<string, string?> Settings(params (string Name, string Url)[] cameras)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Detektor:Capture:StallTimeoutSeconds"] = "3",
            ["Detektor:Capture:ConnectTimeoutSeconds"] = "8",
        };
        for (var i = 0; i < cameras.Length; i++)
        {
            var prefix = string.Create(CultureInfo.InvariantCulture, $"Detektor:Cameras:{i}:");
            settings[prefix + "Name"] = cameras[i].Name;
            settings[prefix + "Url"] = cameras[i].Url;
            settings[prefix + "Width"] = "320";
            settings[prefix + "Height"] = "240";
            settings[prefix + "Fps"] = "5";
        }

        return settings;
    }

    public static async Task<CaptureHarness> StartAsync(IDictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        RequiredTool.Find("ffmpeg");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddMetrics();
        builder.Services.AddSingleton(new ServiceIdentity("detektor-test"));
        builder.AddInProcessBus();
        builder.AddCapture();
        builder.Services.AddSingleton<FrameSink>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<FrameSink>());
        configure?.Invoke(builder.Services);
        var host = builder.Build();
        await host.StartAsync();
        return new CaptureHarness(host);
    }

    /// <summary>Waits until <paramref name="camera"/> has delivered <paramref name="count"/> frames to the bus consumer.</summary>
    public Task WaitForFramesAsync(string camera, int count, TimeSpan? timeout = null) =>
        Eventually.WaitAsync(() => Frames.Count(camera) >= count, timeout ?? TimeSpan.FromSeconds(90), $"{count} frames from '{camera}' (state {Camera(camera).State}, last error {Camera(camera).LastError})");

    /// <summary>Waits until a transition matching <paramref name="match"/> was recorded.</summary>
    public Task WaitForTransitionAsync(string camera, Func<CameraTransition, bool> match, string what, TimeSpan? timeout = null) =>
        Eventually.WaitAsync(
            () => Camera(camera).RecentTransitions.Any(match),
            timeout ?? TimeSpan.FromSeconds(90),
            $"{what}; transitions so far: {Describe(Camera(camera).RecentTransitions)}");

    public static string Describe(IEnumerable<CameraTransition> transitions) =>
        string.Join(" | ", transitions.Select(t => $"{t.From}->{t.To} ({t.Reason}: {t.Detail})"));

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _host.StopAsync(stop.Token);
        _host.Dispose();
    }
}

/// <summary>Consumes the frames topic like the process role would: keeps each frame's metadata, releases its pixels.</summary>
public sealed class FrameSink(IFrameBus bus) : BackgroundService
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<FrameMetadata>> _frames = new(StringComparer.Ordinal);
    private long _lifecycleEvents;

    public long LifecycleEvents => Interlocked.Read(ref _lifecycleEvents);

    public int Count(string camera) => _frames.TryGetValue(camera, out var q) ? q.Count : 0;

    public IReadOnlyList<FrameMetadata> Of(string camera) => _frames.TryGetValue(camera, out var q) ? [.. q] : [];

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(ConsumeFramesAsync(stoppingToken), DrainLifecycleAsync(stoppingToken));

    private async Task ConsumeFramesAsync(CancellationToken stoppingToken)
    {
        await using var subscription = bus.Subscribe(Topics.Frames, "test", "sink");
        var batch = new List<BusDelivery<FrameMessage>>();
        try
        {
            while (await subscription.ReadAsync(batch, 16, stoppingToken) > 0)
            {
                foreach (var delivery in batch)
                {
                    var metadata = delivery.Message.Metadata;
                    _frames.GetOrAdd(metadata.CameraId, _ => new ConcurrentQueue<FrameMetadata>()).Enqueue(metadata);
                    delivery.Message.Release();
                    await subscription.AckAsync(delivery, CancellationToken.None);
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }

        // Whatever is still queued at shutdown goes back to the pool too.
        foreach (var delivery in batch)
        {
            delivery.Message.Release();
        }
    }

    private async Task DrainLifecycleAsync(CancellationToken stoppingToken)
    {
        await using var subscription = bus.Subscribe(Topics.Lifecycle, "test", "sink");
        var batch = new List<BusDelivery<FrameEvent>>();
        try
        {
            while (await subscription.ReadAsync(batch, 256, stoppingToken) > 0)
            {
                Interlocked.Add(ref _lifecycleEvents, batch.Count);
                foreach (var delivery in batch)
                {
                    await subscription.AckAsync(delivery, CancellationToken.None);
                }

                batch.Clear();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
