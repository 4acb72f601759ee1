using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Detektor.Bus.Abstractions;
using Detektor.Core.Buffers;
using Detektor.Core.Lifecycle;
using Detektor.Core.Messages;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Bus.Benchmarks;

/// <summary>
/// The Redis bus against the raw tool, side by side in one run on one redis-server (AOF everysec): <c>redis-benchmark</c>
/// XADD (50 clients) and XREADGROUP COUNT 100 (1 client) with a payload of the same size, then the bus publishing (50
/// concurrent publishers on one connection) and consuming (1 consumer, batches of 100, each batch acknowledged with one XACK) the same number of
/// messages of that size, after a warm-up of the bus's code (8 s, not measured). Then the queue overhead per frame: publish → delivered to a waiting consumer, one at a time.
/// </summary>
internal static class RedisComparison
{
    /// <summary>Entries per read on both sides (the store reads up to 1000 at a time).</summary>
    private const int ReadBatch = 100;

    /// <summary>1, 16 and 100 KiB; <c>DETEKTOR_BENCH_SIZES</c> (bytes, comma-separated) runs only those, e.g. to profile one.</summary>
    private static readonly int[] PayloadSizes = Environment.GetEnvironmentVariable("DETEKTOR_BENCH_SIZES") is { Length: > 0 } sizes
        ? [.. sizes.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture))]
        : [1024, 16 * 1024, 100 * 1024];

    public static async Task<int> RunAsync(string[] args)
    {
        var redisServer = Which("redis-server");
        var redisBenchmark = Which("redis-benchmark");
        if (redisServer is null || redisBenchmark is null)
        {
            Console.Error.WriteLine("redis-server and redis-benchmark are needed (apt-get install redis-server redis-tools).");
            return 2;
        }

        var scale = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 1.0;
        var dir = Directory.CreateTempSubdirectory("detektor-bench-redis");
        var port = FreePort();
        // No automatic AOF rewrite: the 100 KiB passes write hundreds of MB, and a rewrite (a forked child copying the
        // data set) landing inside one side's measurement on 2 cores made that side look slow. Both sides share the server.
        using var server = Process.Start(new ProcessStartInfo(redisServer)
        {
            ArgumentList = { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty, "--appendonly", "yes",
                "--appendfsync", "everysec", "--auto-aof-rewrite-percentage", "0", "--dir", dir.FullName, "--loglevel", "warning" },
            RedirectStandardOutput = true,
        })!;
        try
        {
            await Task.Delay(500);
            var endpoint = $"127.0.0.1:{port}";
            Console.WriteLine($"redis-server {Version(redisServer)} on {endpoint}, AOF everysec; {Environment.ProcessorCount} CPUs; .NET {Environment.Version}");
            Console.WriteLine();
            // Warm-up, not measured: the runtime compiles the bus's hot paths at tier 0 first and recompiles them optimised
            // after they have run for a while (tiered JIT); measured cold, the bus ran at about a third of its speed.
            // redis-benchmark is C and needs none. Every measured pass below then runs code that is already optimised.
            // Each payload size is warmed up (larger ones take other paths through the client's buffers), and for 20 s:
            // with 8 s of 1 KiB only, perf still showed the JIT thread busy during the first measured passes.
            var warmup = Stopwatch.StartNew();
            while (warmup.Elapsed < TimeSpan.FromSeconds(20))
            {
                foreach (var size in PayloadSizes)
                {
                    var n = Math.Clamp(2_000_000 / size, 200, 5000);
                    await BusEventsAsync(endpoint, size, n);
                    await BusFramesAsync(endpoint, size, n);
                    await Cli(redisBenchmark, port, "FLUSHALL");
                }
            }

            Console.WriteLine("| payload | raw XADD msg/s | bus publish msg/s | ratio | bus frame publish (Lua, MAXLEN ~) msg/s | ratio | raw XREADGROUP msg/s | bus read+ack msg/s | ratio | raw XREADGROUP + XACK (one script) msg/s | ratio | bus frames read+ack msg/s | ÷ raw read | ÷ script | frames read: allocated per frame | gen-2 GCs |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var size in PayloadSizes)
            {
                // At least 10,000 × scale messages a size: with 2,000 × 0.3 the 16 and 100 KiB reads were 6 batches, a few
                // milliseconds on either side, and the ratios moved by 2× between runs.
                var n = (int)(Math.Clamp(20_000_000 / size, 10_000, 20_000) * scale);
                await Cli(redisBenchmark, port, "FLUSHALL");
                var rawAdd = RedisBenchmark(redisBenchmark, port, n, 50, ["XADD", "bench:raw", "*", "f", new string('x', size)]);
                await Cli(redisBenchmark, port, "XGROUP", "CREATE", "bench:raw", "g", "0");
                var rawRead = RedisBenchmark(redisBenchmark, port, n / ReadBatch, 1, ["XREADGROUP", "GROUP", "g", "c", "COUNT", ReadBatch.ToString(CultureInfo.InvariantCulture), "STREAMS", "bench:raw", ">"]) * ReadBatch;

                // The bus acknowledges what it reads; the plain XREADGROUP above does not. The same work done raw: one
                // script that reads a batch in a second group, acknowledges it and returns the entries (one round trip,
                // where the bus makes two). Reported beside the plain read, not instead of it.
                await Cli(redisBenchmark, port, "XGROUP", "CREATE", "bench:raw", "g2", "0");
                var rawReadAck = RedisBenchmark(redisBenchmark, port, n / ReadBatch, 1, ["EVAL", ReadAckScript, "1", "bench:raw", "g2", ReadBatch.ToString(CultureInfo.InvariantCulture)]) * ReadBatch;
                await Cli(redisBenchmark, port, "FLUSHALL");
                var (publish, consume) = await BusEventsAsync(endpoint, size, n);
                await Cli(redisBenchmark, port, "FLUSHALL");
                var frames = await BusFramesAsync(endpoint, size, n);
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"| {size / 1024} KiB | {rawAdd:N0} | {publish:N0} | {publish / rawAdd:0.00} | {frames.Publish:N0} | {frames.Publish / rawAdd:0.00} | {rawRead:N0} | {consume:N0} | {consume / rawRead:0.00} | {rawReadAck:N0} | {consume / rawReadAck:0.00} | {frames.Read:N0} | {frames.Read / rawRead:0.00} | {frames.Read / rawReadAck:0.00} | {frames.AllocatedPerFrame / 1024:N1} KiB | {frames.Gen2Collections} |"));
            }

            Console.WriteLine();
            Console.WriteLine("Queue overhead per frame (publish → delivered to a waiting consumer, one frame in flight; 320x240 rgb24 = 225 KiB):");
            Console.WriteLine();
            Console.WriteLine("| bus | p50 ms | p90 ms | p99 ms |");
            Console.WriteLine("|---|---|---|---|");
            await Cli(redisBenchmark, port, "FLUSHALL");
            await LatencyAsync("in process", new Dictionary<string, string?>(), (int)(1000 * scale));
            await LatencyAsync("Redis, raw pixels", RedisSettings(endpoint), (int)(500 * scale));
            await LatencyAsync("Redis, JPEG q85", new(RedisSettings(endpoint)) { ["Detektor:Bus:Redis:PixelEncoding"] = "jpeg" }, (int)(500 * scale));
            var floor = RedisBenchmarkLatency(redisBenchmark, port, 2000, ["XADD", "bench:lat", "MAXLEN", "~", "64", "*", "f", new string('x', 100 * 1024)]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| raw XADD of 100 KiB (redis-benchmark, 1 client): the floor | {floor:0.000} | | |"));
            return 0;
        }
        finally
        {
            // The server may have forked an AOF rewrite child that still writes into the directory.
            server.Kill(entireProcessTree: true);
            await server.WaitForExitAsync();
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    dir.Delete(recursive: true);
                    break;
                }
                catch (IOException) when (attempt < 10)
                {
                    await Task.Delay(200);
                }
            }
        }
    }

    /// <summary>Reads a batch for group ARGV[1], acknowledges it and returns it: raw read + ack in one round trip.</summary>
    private const string ReadAckScript = """
        local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], 'c', 'COUNT', ARGV[2], 'STREAMS', KEYS[1], '>')
        if not r then return false end
        local ids = {}
        for i, e in ipairs(r[1][2]) do ids[i] = e[1] end
        if #ids > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(ids)) end
        return r
        """;

    private static Dictionary<string, string?> RedisSettings(string endpoint) => new()
    {
        ["Detektor:Bus:Transport"] = "redis",
        ["Detektor:Bus:Redis"] = endpoint,
        ["Detektor:Bus:FramesCapacity"] = "100000",
        ["Detektor:Bus:DurableCapacity"] = "10000000",
        ["Detektor:Bus:Backpressure:Enabled"] = "false",
        ["Detektor:Bus:Redis:MaxMessageBytes"] = "16777216",
    };

    /// <summary>Lifecycle events padded to <paramref name="size"/>: plain XADD through the bus, then read + ack.</summary>
    private static async Task<(double Publish, double Consume)> BusEventsAsync(string endpoint, int size, int n)
    {
        using var host = await BenchBus.StartAsync(RedisSettings(endpoint));
        var bus = host.Services.GetRequiredService<IFrameBus>();
        var events = Enumerable.Range(0, n).Select(i => BenchBus.Event(i, size)).ToArray();
        await bus.PublishAsync(Topics.Lifecycle, events[0]); // creates the stream and groups
        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(
            Enumerable.Range(1, n - 1), new ParallelOptions { MaxDegreeOfParallelism = 50 }, async (i, ct) => await bus.PublishAsync(Topics.Lifecycle, events[i], ct));
        var publish = (n - 1) / watch.Elapsed.TotalSeconds;

        await using var subscription = bus.Subscribe(Topics.Lifecycle, "store", "bench");
        var batch = new List<BusDelivery<FrameEvent>>(ReadBatch);

        // The first read opens the subscription's connection and checks its group: set-up, as redis-benchmark connects
        // before its clock starts. It takes the first event; the n − 1 after it are timed.
        await subscription.ReadAsync(batch, 1, CancellationToken.None);
        await subscription.AckAsync(batch);
        var seen = batch.Count;
        batch.Clear();
        watch.Restart();
        while (seen < n)
        {
            await subscription.ReadAsync(batch, ReadBatch, CancellationToken.None);
            await subscription.AckAsync(batch);
            seen += batch.Count;
            batch.Clear();
        }

        var consume = (n - 1) / watch.Elapsed.TotalSeconds;
        await host.StopAsync();
        return (publish, consume);
    }

    /// <summary>
    /// Frames with <paramref name="size"/> bytes of raw pixels through the frames publish script (50 cameras at once), then
    /// read back by one processor in batches of <see cref="ReadBatch"/>: decoded into pooled buffers, released, acknowledged.
    /// Also what the read allocated per frame and how many gen-2 collections it caused.
    /// </summary>
    private static async Task<FramesResult> BusFramesAsync(string endpoint, int size, int n)
    {
        // The pool keeps a batch's worth of buffers: this consumer holds all 100 frames of a batch before it releases
        // them, and with the default 16 the pool allocated 84 new buffers a batch, which the allocation column then showed.
        using var host = await BenchBus.StartAsync(RedisSettings(endpoint), framesRetained: ReadBatch);
        var bus = host.Services.GetRequiredService<IFrameBus>();
        var pool = new FrameBufferPool();
        var width = size / 3;
        await using var subscription = bus.Subscribe(Topics.Frames, "processors", "bench");
        await bus.PublishAsync(Topics.Frames, BenchBus.Frame(0, width, 1, pool));
        var watch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(
            Enumerable.Range(1, n - 1), new ParallelOptions { MaxDegreeOfParallelism = 50 }, async (i, ct) => await bus.PublishAsync(Topics.Frames, BenchBus.Frame(i, width, 1, pool), ct));
        var publish = (n - 1) / watch.Elapsed.TotalSeconds;

        // As for events: the first read (connection, group) is set-up; the n − 1 after it are timed.
        var batch = new List<BusDelivery<FrameMessage>>(ReadBatch);
        await subscription.ReadAsync(batch, 1, CancellationToken.None);
        var seen = Settle(batch);
        await subscription.AckAsync(batch);
        batch.Clear();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var gen2 = GC.CollectionCount(2);
        watch.Restart();
        var timed = 0;
        while (seen < n)
        {
            await subscription.ReadAsync(batch, ReadBatch, CancellationToken.None);
            if (batch.Count == 0)
            {
                throw new InvalidOperationException($"{n - seen} of {n} frames were not delivered.");
            }

            seen += Settle(batch);
            timed += batch.Count;
            await subscription.AckAsync(batch);
            batch.Clear();
        }

        var read = timed / watch.Elapsed.TotalSeconds;
        var perFrame = (GC.GetTotalAllocatedBytes(precise: true) - allocated) / (double)timed;
        var collections = GC.CollectionCount(2) - gen2;
        await host.StopAsync();
        return new FramesResult(publish, read, perFrame, collections);

        static int Settle(List<BusDelivery<FrameMessage>> batch)
        {
            foreach (var delivery in batch)
            {
                delivery.Message.Release();
            }

            return batch.Count;
        }
    }

    private sealed record FramesResult(double Publish, double Read, double AllocatedPerFrame, int Gen2Collections);

    private static async Task LatencyAsync(string name, Dictionary<string, string?> settings, int frames)
    {
        settings["Detektor:Bus:Backpressure:Enabled"] = "false";
        using var host = await BenchBus.StartAsync(settings);
        var bus = host.Services.GetRequiredService<IFrameBus>();
        var pool = new FrameBufferPool();
        await using var subscription = bus.Subscribe(Topics.Frames, "processors", "bench");
        var batch = new List<BusDelivery<FrameMessage>>(1);
        var samples = new List<double>(frames);
        for (var i = -20; i < frames; i++)
        {
            var sequence = i + 20;
            var read = subscription.ReadAsync(batch, 1, CancellationToken.None).AsTask(); // the consumer waits first, as a processor does
            var started = Stopwatch.GetTimestamp();
            await bus.PublishAsync(Topics.Frames, BenchBus.Frame(sequence, 320, 240, pool));
            await read;
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            batch[0].Message.Release();
            await subscription.AckAsync(batch[0]);
            batch.Clear();
            if (i >= 0)
            {
                samples.Add(elapsed); // the first 20 warm up
            }
        }

        samples.Sort();
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture, $"| {name} | {Percentile(samples, 0.5):0.000} | {Percentile(samples, 0.9):0.000} | {Percentile(samples, 0.99):0.000} |"));
        await host.StopAsync();
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];

    /// <summary>Runs redis-benchmark for one command and returns its requests per second (CSV output).</summary>
    private static double RedisBenchmark(string tool, int port, int requests, int clients, string[] command) =>
        double.Parse(RedisBenchmarkCsv(tool, port, requests, clients, command)[1], CultureInfo.InvariantCulture);

    private static double RedisBenchmarkLatency(string tool, int port, int requests, string[] command) =>
        double.Parse(RedisBenchmarkCsv(tool, port, requests, 1, command)[4], CultureInfo.InvariantCulture);

    private static string[] RedisBenchmarkCsv(string tool, int port, int requests, int clients, string[] command)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-n", requests.ToString(CultureInfo.InvariantCulture),
                     "-c", clients.ToString(CultureInfo.InvariantCulture), "--csv" }.Concat(command))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return line.Split(',').Select(f => f.Trim('"')).ToArray();
    }

    private static async Task Cli(string benchmarkPath, int port, params string[] command)
    {
        var cli = Path.Combine(Path.GetDirectoryName(benchmarkPath)!, "redis-cli");
        var start = new ProcessStartInfo(cli) { RedirectStandardOutput = true };
        foreach (var arg in new[] { "-p", port.ToString(CultureInfo.InvariantCulture) }.Concat(command))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
    }

    private static string Version(string tool)
    {
        using var process = Process.Start(new ProcessStartInfo(tool, "--version") { RedirectStandardOutput = true })!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var v = text.IndexOf("v=", StringComparison.Ordinal);
        return v < 0 ? "?" : text[(v + 2)..].Split(' ')[0];
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
