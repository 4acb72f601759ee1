using Detektor.Bus;
using Detektor.Bus.Abstractions;
using Detektor.Capture;
using Detektor.Capture.Cameras;
using Detektor.Core;
using Detektor.Core.Lifecycle;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// The capture role with nothing behind it: frames are taken off the bus and released, lifecycle events drained. Prints
// "frames N" once a second. Configuration as for detektor (--Detektor:CommandLineCameras:0:Url=… or environment).
// As detektor: no configuration file watcher on the working directory (DetektorApp.NoConfigWatch).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = ["--hostBuilder:reloadConfigOnChange=false", .. args] });
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
builder.Services.AddSingleton(new ServiceIdentity("detektor-capture-bench"));
builder.AddInProcessBus();
builder.AddCapture();
builder.Services.AddHostedService<Drain>();
using var host = builder.Build();
await host.StartAsync();
var registry = host.Services.GetRequiredService<CameraRegistry>();
var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
while (!lifetime.ApplicationStopping.IsCancellationRequested && await timer.WaitForNextTickAsync())
{
    Console.WriteLine($"frames {registry.All.Sum(c => c.FramesCaptured)}");
}

await host.StopAsync();

internal sealed class Drain(IFrameBus bus) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await Task.WhenAll(DrainAsync(Topics.Frames, static m => m.Release(), stoppingToken), DrainAsync<FrameEvent>(Topics.Lifecycle, static _ => { }, stoppingToken));
    }

    private async Task DrainAsync<T>(Topic<T> topic, Action<T> done, CancellationToken stoppingToken)
        where T : class
    {
        await using var subscription = bus.Subscribe(topic, "bench", "drain");
        var batch = new List<BusDelivery<T>>();
        try
        {
            while (await subscription.ReadAsync(batch, 64, stoppingToken) > 0)
            {
                foreach (var delivery in batch)
                {
                    done(delivery.Message);
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
