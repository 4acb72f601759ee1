using System.Globalization;
using Detektor.Composition;
using Detektor.Storage;
using Detektor.Storage.Abstractions;

namespace Detektor.LoadTest;

/// <summary>
/// Runs a load test: starts the pipeline as <c>detektor run</c> children (one with every role, or store+api, process and
/// capture over Redis), with N synthetic cameras and their spans exported to an in-tool OTLP receiver; shows progress;
/// stops capture after warm-up + duration and lets the pipeline drain; then accounts for every frame from the event
/// store, checks the traces, and measures latency, CPU and memory. Both modes run this one code path.
/// </summary>
public sealed class LoadTestRunner(LoadTestOptions options, TextWriter progress, TimeProvider time)
{
    /// <summary>Exit code: every gate passed.</summary>
    public const int ExitPassed = 0;

    /// <summary>Exit code: the run completed and a gate failed.</summary>
    public const int ExitGateFailed = 1;

    /// <summary>Exit code: bad options.</summary>
    public const int ExitUsage = 2;

    /// <summary>Exit code: the run could not be carried out (a child did not start, the store could not be read).</summary>
    public const int ExitRunFailed = 3;

    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(2);
    private double _capturedAfterWarmup;

    /// <summary>Camera ids of this run: unique per run, so a shared PostgreSQL database holds other runs apart.</summary>
    public IReadOnlyList<string> CameraIds { get; } = CreateCameraIds(options.Cameras);

    public async Task<LoadTestReport> RunAsync(string workDirectory, CancellationToken cancellationToken)
    {
        await using var otlp = await OtlpReceiver.StartAsync();
        var children = new List<PipelineProcess>();
        try
        {
            var startedAt = time.GetUtcNow();
            var common = CommonArguments();
            PipelineProcess store;
            if (options.Mode == LoadTestMode.AllInOne)
            {
                store = Start("detektor", "all", [], otlp, workDirectory);
                children.Add(store);
                await WaitReadyAsync(store, cancellationToken);
            }
            else
            {
                store = Start("detektor-store", "store,api", ["--roles", "store,api"], otlp, workDirectory);
                var process = Start("detektor-process", "process", ["--roles", "process"], otlp, workDirectory);
                children.AddRange([store, process]);
                await Task.WhenAll(WaitReadyAsync(store, cancellationToken), WaitReadyAsync(process, cancellationToken));
                var capture = Start("detektor-capture", "capture", ["--roles", "capture"], otlp, workDirectory);
                children.Add(capture);
                await WaitReadyAsync(capture, cancellationToken);
            }

            var runStart = time.GetUtcNow();
            var measureFrom = runStart + options.Warmup;
            var measureTo = measureFrom + options.Duration;
            await WatchAsync(children, runStart, measureFrom, measureTo, cancellationToken);

            var drainStart = time.GetTimestamp();
            var exitCodes = await StopAsync(children);
            var drainSeconds = time.GetElapsedTime(drainStart).TotalSeconds;
            var lifetime = time.GetUtcNow() - runStart;
            await WaitForSpansAsync(otlp, cancellationToken);

            var accounting = new FrameAccounting();
            await ReadStoreAsync(store, workDirectory, accounting, cancellationToken);
            var (frames, latency) = accounting.Summarize(measureFrom);
            var traces = TraceAnalysis.Analyze(otlp.Spans, accounting.Frames);
            var storedInWindow = accounting.Frames.Values.Count(events =>
                events[0].FrameId.Timestamp >= measureFrom && events[0].FrameId.Timestamp < measureTo &&
                events.Exists(e => e.Type == Core.Lifecycle.FrameEventType.Stored));
            var report = new LoadTestReport
            {
                Run = new RunDescription(
                    options.Mode,
                    options.Source,
                    options.Cameras,
                    options.Fps,
                    options.Width,
                    options.Height,
                    options.Detect,
                    options.DetectFps,
                    options.TraceSampleRatio,
                    options.Warmup.TotalSeconds,
                    options.Duration.TotalSeconds,
                    Math.Round(drainSeconds, 2),
                    options.Duration.TotalSeconds > 0 ? Math.Round(storedInWindow / options.Duration.TotalSeconds, 2) : 0,
                    options.Postgres is null ? "sqlite" : "postgresql",
                    options.Mode == LoadTestMode.AllInOne ? "in-process" : "redis",
                    startedAt,
                    MachineDescription()),
                Frames = frames,
                Traces = traces,
                Latency = latency,
                Processes = [.. children.Select((c, i) => ProcessReportOf(c, exitCodes[i], lifetime))],
            };
            return report with { Gates = options.Gates.Evaluate(report) };
        }
        finally
        {
            foreach (var child in children)
            {
                await child.DisposeAsync();
            }
        }
    }

    /// <summary>Thrown when the run cannot be carried out; the message says why (with the child's last output).</summary>
    public sealed class RunFailedException(string message) : Exception(message);

    private static string[] CreateCameraIds(int count)
    {
        var run = Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..6];
        return [.. Enumerable.Range(1, count).Select(i => string.Create(CultureInfo.InvariantCulture, $"lt{run}-c{i:00}"))];
    }

    private List<string> CommonArguments()
    {
        var set = new List<string>();
        void Set(string key, FormattableString value)
        {
            set.Add("--set");
            set.Add(key + "=" + value.ToString(CultureInfo.InvariantCulture));
        }

        var url = options.Source == LoadTestSource.TestSource ? "testsrc2://" : Path.GetFullPath(options.FootagePath!);
        for (var i = 0; i < CameraIds.Count; i++)
        {
            var prefix = string.Create(CultureInfo.InvariantCulture, $"Detektor:Cameras:{i}:");
            Set(prefix + "Name", $"{CameraIds[i]}");
            Set(prefix + "Url", $"{url}");
            Set(prefix + "Width", $"{options.Width}");
            Set(prefix + "Height", $"{options.Height}");
            Set(prefix + "Fps", $"{options.Fps}");
            Set(prefix + "Loop", $"true");
        }

        Set("Detektor:Detection:Enabled", $"{(options.Detect ? "true" : "false")}");
        if (options.Detect)
        {
            Set("Detektor:Detection:DetectFps", $"{options.DetectFps}");
            if (options.ModelsDirectory is { } models)
            {
                Set("Detektor:Detection:ModelsDirectory", $"{Path.GetFullPath(models)}");
                Set("Detektor:Detection:PullOnStart", $"false");
            }
        }

        Set("Detektor:Hosting:TraceSampleRatio", $"{options.TraceSampleRatio}");
        foreach (var item in options.Settings)
        {
            set.Add("--set");
            set.Add(item);
        }

        if (options.Mode == LoadTestMode.Distributed)
        {
            set.Add("--redis");
            set.Add(options.Redis!);
        }

        return set;
    }

    private PipelineProcess Start(string name, string roles, IEnumerable<string> roleArguments, OtlpReceiver otlp, string workDirectory)
    {
        var environment = new Dictionary<string, string>(otlp.Environment(name))
        {
            ["Detektor__Hosting__JsonLogs"] = "false",
        };
        if (options.Postgres is { } postgres)
        {
            // The connection string holds a password: the environment, not the command line (visible in ps).
            environment["Detektor__Storage__Provider"] = "postgres";
            environment["Detektor__Storage__PostgresConnectionString"] = postgres;
        }

        var dir = Path.Combine(workDirectory, name);
        return PipelineProcess.Start(name, roles, [.. roleArguments, "--data-dir", Path.Combine(dir, "data"), .. CommonArguments()], environment, dir);
    }

    private static async Task WaitReadyAsync(PipelineProcess child, CancellationToken cancellationToken)
    {
        if (!await child.WaitReadyAsync(TimeSpan.FromSeconds(120), cancellationToken))
        {
            throw new RunFailedException($"{child.Name} did not become ready{(child.ExitCode is { } code ? $" (exited with {code})" : " in 120 s")}:{Environment.NewLine}{child.Tail()}");
        }
    }

    /// <summary>Runs until <paramref name="measureTo"/>: progress, RSS at the end of the warm-up, restarts of children that exit.</summary>
    private async Task WatchAsync(List<PipelineProcess> children, DateTimeOffset runStart, DateTimeOffset measureFrom, DateTimeOffset measureTo, CancellationToken cancellationToken)
    {
        var warmedUp = false;
        PipelineCounters? last = null;
        var lastAt = time.GetTimestamp();
        while (true)
        {
            var now = time.GetUtcNow();
            if (now >= measureTo)
            {
                break;
            }

            var wait = TimeSpan.FromTicks(Math.Min(ProgressInterval.Ticks, (measureTo - now).Ticks));
            await Task.Delay(wait, time, cancellationToken);
            foreach (var child in children)
            {
                if (child.RestartIfExited())
                {
                    await progress.WriteLineAsync($"detektor loadtest: {child.Name} exited by itself; started again (restart {child.Restarts}).");
                }

                child.Sample();
            }

            var counters = await PipelineCounters.ScrapeAsync(children, cancellationToken);
            if (!warmedUp && time.GetUtcNow() >= measureFrom)
            {
                warmedUp = true;
                foreach (var child in children)
                {
                    child.MemoryAfterWarmup = child.MemoryLast;
                    child.AllocatedAfterWarmup = await PipelineCounters.AllocatedBytesAsync(child, cancellationToken);
                }

                _capturedAfterWarmup = counters.Captured;
            }

            var seconds = time.GetElapsedTime(lastAt).TotalSeconds;
            lastAt = time.GetTimestamp();
            if (last is not null && seconds > 0)
            {
                var elapsed = time.GetUtcNow() - runStart;
                var phase = warmedUp ? "measuring" : "warm-up";
                await progress.WriteLineAsync(string.Create(
                    CultureInfo.InvariantCulture,
                    $"[{elapsed.TotalSeconds,5:0}s/{(measureTo - runStart).TotalSeconds:0}s {phase}] captured {(counters.Captured - last.Captured) / seconds,6:0.0}/s  stored {(counters.Stored - last.Stored) / seconds,6:0.0}/s  backlog {counters.Backlog,5}  dropped {counters.Dropped}  skipped {counters.Skipped}"));
            }

            last = counters;
        }

        var final = await PipelineCounters.ScrapeAsync(children, cancellationToken);
        foreach (var child in children)
        {
            child.Sample();
            child.MemoryAtEnd = child.MemoryLast;
            var allocated = await PipelineCounters.AllocatedBytesAsync(child, cancellationToken);
            var frames = final.Captured - _capturedAfterWarmup;
            if (warmedUp && child.AllocatedAfterWarmup is { } before && allocated is { } after && frames > 0)
            {
                child.AllocatedBytesPerFrame = Math.Round((after - before) / frames);
            }
        }
    }

    /// <summary>
    /// Stops capture first (all-in-one: the whole process, whose shutdown stops capture, then drains processing and the
    /// store in that order); distributed: capture, then waits until the store makes no more progress, then process and store.
    /// </summary>
    private async Task<int[]> StopAsync(List<PipelineProcess> children)
    {
        var exitCodes = new int[children.Count];
        var stopTimeout = options.Drain + TimeSpan.FromSeconds(30);
        if (children.Count == 1)
        {
            exitCodes[0] = await children[0].StopAsync(stopTimeout);
            return exitCodes;
        }

        // Distributed: [store, process, capture].
        exitCodes[2] = await children[2].StopAsync(stopTimeout);
        var deadline = time.GetUtcNow() + options.Drain;
        double lastDone = -1;
        var stableSince = time.GetUtcNow();
        while (time.GetUtcNow() < deadline)
        {
            var counters = await PipelineCounters.ScrapeAsync(children.Take(2), CancellationToken.None);
            var done = counters.Stored + counters.Dropped;
            if (done != lastDone)
            {
                lastDone = done;
                stableSince = time.GetUtcNow();
            }
            else if (time.GetUtcNow() - stableSince >= TimeSpan.FromSeconds(3))
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), time);
        }

        exitCodes[1] = await children[1].StopAsync(stopTimeout);
        exitCodes[0] = await children[0].StopAsync(stopTimeout);
        return exitCodes;
    }

    /// <summary>Exporters flush on stop; waits until no more spans arrive for two seconds (at most 60 s).</summary>
    private async Task WaitForSpansAsync(OtlpReceiver otlp, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + TimeSpan.FromSeconds(60);
        var last = -1;
        var stableSince = time.GetUtcNow();
        while (time.GetUtcNow() < deadline)
        {
            var count = otlp.SpanCount;
            if (count != last)
            {
                last = count;
                stableSince = time.GetUtcNow();
            }
            else if (time.GetUtcNow() - stableSince >= TimeSpan.FromSeconds(2))
            {
                return;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken);
        }
    }

    /// <summary>Reads every event of this run's cameras from the store the store child wrote (SQLite file or PostgreSQL).</summary>
    private async Task ReadStoreAsync(PipelineProcess store, string workDirectory, FrameAccounting accounting, CancellationToken cancellationToken)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        if (options.Postgres is { } postgres)
        {
            settings["Detektor:Storage:Provider"] = "postgres";
            settings["Detektor:Storage:PostgresConnectionString"] = postgres;
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [DetektorApp.NoConfigWatch], ApplicationName = "detektor" });
        DetektorApp.AddConfiguration(builder.Configuration, new RunSettings
        {
            DataDir = Path.Combine(workDirectory, store.Name, "data"),
            Settings = settings,
        });
        builder.Logging.ClearProviders();
        builder.AddEventStore();
        using var host = builder.Build();
        var eventStore = host.Services.GetRequiredService<IEventStore>();
        try
        {
            foreach (var camera in CameraIds)
            {
                EventCursor? cursor = null;
                do
                {
                    var page = await eventStore.QueryEventsAsync(new EventQuery(camera, Limit: EventQuery.MaxLimit, After: cursor), cancellationToken);
                    accounting.Add(page.Items);
                    cursor = page.Next;
                }
                while (cursor is not null);
            }
        }
        catch (Exception ex) when (Cli.DbCommand.IsStoreError(ex))
        {
            throw new RunFailedException($"cannot read the event store: {Core.Security.SecretMasker.MaskSecrets(ex.Message)}");
        }
        finally
        {
            (eventStore as IDisposable)?.Dispose();
        }
    }

    private static ProcessReport ProcessReportOf(PipelineProcess child, int exitCode, TimeSpan wall)
    {
        var sample = child.Sample();
        const double MiB = 1024 * 1024;
        var warm = child.MemoryAfterWarmup;
        var end = child.MemoryAtEnd ?? child.MemoryLast;
        return new ProcessReport(
            child.Name,
            child.Roles,
            child.ProcessId,
            Math.Round(sample.CpuSeconds, 2),
            wall.TotalSeconds > 0 ? Math.Round(sample.CpuSeconds / wall.TotalSeconds, 3) : 0,
            Math.Round(sample.ChildCpuSeconds, 2),
            Math.Round(sample.PeakRssBytes / MiB, 1),
            warm is { } w ? Math.Round(w.Rss / MiB, 1) : null,
            Math.Round(end.Rss / MiB, 1),
            Growth(warm?.Rss, end.Rss),
            child.Restarts,
            exitCode,
            child.AllocatedBytesPerFrame,
            warm is { } wa ? Math.Round(wa.Anonymous / MiB, 1) : null,
            Math.Round(end.Anonymous / MiB, 1),
            Math.Round(end.FileBacked / MiB, 1),
            Growth(warm?.Anonymous, end.Anonymous));

        static double? Growth(long? from, long to) => from is { } f and > 0 ? Math.Round(100.0 * (to - f) / f, 2) : null;
    }

    private static string MachineDescription()
    {
        var model = "unknown CPU";
        long memoryKb = 0;
        try
        {
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? model;
            var total = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
            memoryKb = total is null ? 0 : long.Parse(total.AsSpan(9).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }

        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores, {model}, {memoryKb / 1024.0 / 1024.0:0.#} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
    }
}

/// <summary>Frame counters summed over the children's <c>/metrics</c> (Prometheus text), for the progress line and the drain.</summary>
internal sealed record PipelineCounters(double Captured, double Stored, double Dropped, double Skipped)
{
    public double Backlog => Math.Max(0, Captured - Stored - Dropped);

    public static async Task<PipelineCounters> ScrapeAsync(IEnumerable<PipelineProcess> children, CancellationToken cancellationToken)
    {
        double captured = 0, stored = 0, dropped = 0, skipped = 0;
        foreach (var child in children)
        {
            string text;
            try
            {
                text = await child.Http.GetStringAsync("metrics", cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                continue;
            }

            foreach (var line in text.Split('\n'))
            {
                captured += Value(line, "detektor_frames_captured_total");
                stored += Value(line, "detektor_frames_stored_total");
                dropped += Value(line, "detektor_frames_dropped_total");
                skipped += Value(line, "detektor_frames_skipped_total");
            }
        }

        return new PipelineCounters(captured, stored, dropped, skipped);
    }

    /// <summary>Bytes the child's GC heap has allocated since it started (<c>dotnet.gc.heap.total_allocated</c>); null when unreadable.</summary>
    public static async Task<double?> AllocatedBytesAsync(PipelineProcess child, CancellationToken cancellationToken)
    {
        try
        {
            var text = await child.Http.GetStringAsync("metrics", cancellationToken);
            return text.Split('\n').Sum(line => Value(line, "dotnet_gc_heap_total_allocated_bytes_total"));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    /// <summary>The value of a sample line of <paramref name="metric"/> (any labels), else 0.</summary>
    internal static double Value(string line, string metric)
    {
        if (!line.StartsWith(metric, StringComparison.Ordinal) || line.Length == metric.Length || line[metric.Length] is not ('{' or ' '))
        {
            return 0;
        }

        var end = line.IndexOf(' ', line.LastIndexOf('}') + 1);
        var rest = line[(end + 1)..].Trim().Split(' ')[0];
        return double.TryParse(rest, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : 0;
    }
}
