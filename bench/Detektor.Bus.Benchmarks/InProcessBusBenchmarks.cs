using BenchmarkDotNet.Attributes;
using Detektor.Bus.Abstractions;
using Detektor.Core.Buffers;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Detektor.Bus.Benchmarks;

/// <summary>
/// The in-process bus: publish and consume (read in batches of 64, acknowledge) 10 000 messages per invocation, one
/// publisher and one consumer running at the same time. Reported per message; messages/s = 1e9 / mean ns.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class InProcessBusBenchmarks
{
    private const int Messages = 10_000;
    private readonly FrameBufferPool _pool = new();
    private IHost _host = null!;
    private IFrameBus _bus = null!;
    private IBusSubscription<FrameEvent> _events = null!;
    private IBusSubscription<FrameMessage> _frames = null!;
    private FrameEvent[] _prepared = [];

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _host = await BenchBus.StartAsync(new Dictionary<string, string?>
        {
            ["Detektor:Bus:FramesCapacity"] = "100000",
            ["Detektor:Bus:Backpressure:Enabled"] = "false",
        });
        _bus = _host.Services.GetRequiredService<IFrameBus>();
        _events = _bus.Subscribe(Topics.Lifecycle, "store", "bench");
        _frames = _bus.Subscribe(Topics.Frames, "processors", "bench");
        _prepared = [.. Enumerable.Range(0, Messages).Select(i => BenchBus.Event(i, 1024))];
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _events.DisposeAsync();
        await _frames.DisposeAsync();
        await _host.StopAsync();
        _host.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "lifecycle event ~1 KB: publish + read + ack")]
    public async Task Events()
    {
        var consume = ConsumeAsync(_events, Messages, static _ => { });
        foreach (var e in _prepared)
        {
            await _bus.PublishAsync(Topics.Lifecycle, e);
        }

        await consume;
    }

    [Benchmark(OperationsPerInvoke = Messages, Description = "frame 320x240 rgb24 (pooled): publish + read + ack + release")]
    public async Task Frames()
    {
        var consume = ConsumeAsync(_frames, Messages, static d => d.Message.Release());
        for (var i = 0; i < Messages; i++)
        {
            await _bus.PublishAsync(Topics.Frames, BenchBus.Frame(i, 320, 240, _pool));
        }

        await consume;
    }

    private static async Task ConsumeAsync<T>(IBusSubscription<T> subscription, int count, Action<BusDelivery<T>> handle)
        where T : class
    {
        var batch = new List<BusDelivery<T>>(64);
        var seen = 0;
        while (seen < count)
        {
            await subscription.ReadAsync(batch, 64, CancellationToken.None);
            foreach (var delivery in batch)
            {
                handle(delivery);
            }

            await subscription.AckAsync(batch);
            seen += batch.Count;
            batch.Clear();
        }
    }
}
