using System.CommandLine;
using System.Globalization;
using Detektor.LoadTest;

namespace Detektor.Cli;

/// <summary>
/// <c>detektor loadtest</c>: N synthetic cameras at F fps through the real pipeline (child <c>detektor run</c>
/// processes), then a report; exit 0 when every gate passed, 1 when one failed, 2 on bad options, 3 when the run failed.
/// </summary>
internal sealed class LoadTestCommand
{
    private readonly Option<int> Cameras = new("--cameras") { Description = "Number of synthetic cameras.", DefaultValueFactory = _ => 8 };
    private readonly Option<double> Fps = new("--fps") { Description = "Frames per second of each camera.", DefaultValueFactory = _ => 30 };
    private readonly Option<string> Duration = new("--duration") { Description = "How long to measure after the warm-up, e.g. 30s, 5m, 30m.", DefaultValueFactory = _ => "30s" };
    private readonly Option<string> Warmup = new("--warmup") { Description = "Run this long before measuring (frames still accounted; RSS growth is measured from its end).", DefaultValueFactory = _ => "10s" };
    private readonly Option<string> Drain = new("--drain") { Description = "Longest wait for frames in flight after capture stops.", DefaultValueFactory = _ => "60s" };
    private readonly Option<string> Source = new("--source") { Description = "testsrc (ffmpeg's moving testsrc2 pattern) or footage (a video file looped; see --footage).", DefaultValueFactory = _ => "testsrc" };
    private readonly Option<string> Footage = new("--footage") { Description = "The video for --source footage (default $DETEKTOR_FOOTAGE/vtest.mp4)." };
    private readonly Option<string> Size = new("--size") { Description = "Frame size WIDTHxHEIGHT.", DefaultValueFactory = _ => "640x360" };
    private readonly Option<string> Mode = new("--mode") { Description = "all-in-one (one process, in-process bus, SQLite) or distributed (store+api, process and capture processes over --redis).", DefaultValueFactory = _ => "all-in-one" };
    private readonly Option<string> Redis = new("--redis") { Description = "Redis HOST:PORT for --mode distributed." };
    private readonly Option<string> Postgres = new("--postgres") { Description = "Store in PostgreSQL: a connection string (a secret; also read from env DETEKTOR_LOADTEST_POSTGRES). Default SQLite." };
    private readonly Option<string> Detect = new("--detect") { Description = "on or off: object and face detection, gated by motion and --detect-fps.", DefaultValueFactory = _ => "on" };
    private readonly Option<double> DetectFps = new("--detect-fps") { Description = "Detect at most this many frames per second per camera (Detektor:Detection:DetectFps).", DefaultValueFactory = _ => 1 };
    private readonly Option<string> Models = new("--models") { Description = "Directory of the detection models (default $DETEKTOR_MODELS; otherwise each run pulls them)." };
    private readonly Option<double> TraceSample = new("--trace-sample") { Description = "Share of frames traced, 0-1 (Detektor:Hosting:TraceSampleRatio).", DefaultValueFactory = _ => 1.0 };
    private readonly Option<string[]> Set = new("--set") { Description = "Configuration for every child as KEY=VALUE (repeatable)." };
    private readonly Option<bool> Json = new("--json") { Description = "Print the report as JSON (no progress line)." };
    private readonly Option<bool> Keep = new("--keep") { Description = "Keep the work directory (children's data and logs) and print where it is." };
    private readonly Option<string> MaxLost = new("--max-lost") { Description = "Gate: most frames lost (default 0; 'off' turns it off).", DefaultValueFactory = _ => "0" };
    private readonly Option<string> MinLifecycle = new("--min-lifecycle-completeness") { Description = "Gate: least share of complete lifecycles, 0-1 (default 1).", DefaultValueFactory = _ => "1" };
    private readonly Option<string> MinTrace = new("--min-trace-completeness") { Description = "Gate: least share of sampled frames with every stage's span, 0-1 (default 0.99).", DefaultValueFactory = _ => "0.99" };
    private readonly Option<string> MaxOrphans = new("--max-orphan-spans") { Description = "Gate: most orphan spans (default 0).", DefaultValueFactory = _ => "0" };
    private readonly Option<string> MaxDropped = new("--max-dropped") { Description = "Gate: most share of frames dropped, 0-1 (e.g. 0.01; default off).", DefaultValueFactory = _ => "off" };
    private readonly Option<string> MaxP95 = new("--max-p95-ms") { Description = "Gate: highest p95 capture→stored in ms (default off).", DefaultValueFactory = _ => "off" };
    private readonly Option<string> MaxRss = new("--max-rss-mb") { Description = "Gate: highest peak RSS of any child in MiB (default off).", DefaultValueFactory = _ => "off" };
    private readonly Option<string> MaxGrowth = new("--max-rss-growth") { Description = "Gate: highest RSS growth after the warm-up, percent (default off).", DefaultValueFactory = _ => "off" };
    private readonly Option<string> MaxRestarts = new("--max-restarts") { Description = "Gate: most restarts of child processes (default 0).", DefaultValueFactory = _ => "0" };

    public static Command Create() => new LoadTestCommand().Build();

    private Command Build()
    {
        var command = new Command(
            "loadtest",
            "Run the pipeline under load: N synthetic cameras at F fps for a duration, then account for every frame and report " +
            "lost frames, lifecycle and trace completeness, latency, CPU and memory. Exit 0: every gate passed; 1: a gate failed; " +
            "2: bad options; 3: the run failed.")
        {
            Cameras, Fps, Duration, Warmup, Drain, Source, Footage, Size, Mode, Redis, Postgres, Detect, DetectFps, Models, TraceSample, Set,
            Json, Keep, MaxLost, MinLifecycle, MinTrace, MaxOrphans, MaxDropped, MaxP95, MaxRss, MaxGrowth, MaxRestarts,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!TryRead(parse, Environment.GetEnvironmentVariable, out var options, out var error))
            {
                await Console.Error.WriteLineAsync($"detektor: {error}");
                return LoadTestRunner.ExitUsage;
            }

            return await RunAsync(options, Console.Out, Console.Error, cancellationToken);
        });
        return command;
    }

    public static async Task<int> RunAsync(LoadTestOptions options, TextWriter output, TextWriter errors, CancellationToken cancellationToken)
    {
        var work = Path.Combine(Path.GetTempPath(), "detektor-loadtest-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        var runner = new LoadTestRunner(options, options.Json ? TextWriter.Null : errors, TimeProvider.System);
        try
        {
            var report = await runner.RunAsync(work, cancellationToken);
            await output.WriteAsync(options.Json ? report.ToJson() + Environment.NewLine : report.ToTable());
            return ExitCodeOf(report);
        }
        catch (LoadTestRunner.RunFailedException ex)
        {
            await errors.WriteLineAsync($"detektor: loadtest: {ex.Message}");
            return LoadTestRunner.ExitRunFailed;
        }
        finally
        {
            if (options.Keep)
            {
                await errors.WriteLineAsync($"detektor: loadtest: work directory kept at {work}");
            }
            else
            {
                try
                {
                    Directory.Delete(work, recursive: true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    /// <summary>0 when every gate passed, 1 when one failed.</summary>
    internal static int ExitCodeOf(LoadTestReport report) => report.Passed ? LoadTestRunner.ExitPassed : LoadTestRunner.ExitGateFailed;

    /// <summary>Reads and checks the options; false with one line naming the option and what is allowed.</summary>
    internal bool TryRead(ParseResult parse, Func<string, string?> environment, out LoadTestOptions options, out string? error)
    {
        options = new LoadTestOptions();
        error = null;
        var cameras = parse.GetValue(Cameras);
        if (cameras is < 1 or > 64)
        {
            error = $"--cameras: {cameras} is out of range; allowed 1 to 64.";
            return false;
        }

        var fps = parse.GetValue(Fps);
        if (fps is < 0.1 or > 120 || double.IsNaN(fps))
        {
            error = $"--fps: {fps.ToString(CultureInfo.InvariantCulture)} is out of range; allowed 0.1 to 120 (as a camera's Fps).";
            return false;
        }

        if (!TryDuration(parse, Duration, out var duration, out error) || !TryDuration(parse, Warmup, out var warmup, out error) ||
            !TryDuration(parse, Drain, out var drain, out error))
        {
            return false;
        }

        if (duration <= TimeSpan.Zero)
        {
            error = "--duration: must be longer than 0, e.g. --duration 30s.";
            return false;
        }

        if (!LoadTestOptions.TryParseSize(parse.GetValue(Size), out var width, out var height))
        {
            error = $"--size: '{parse.GetValue(Size)}' is not WIDTHxHEIGHT with even numbers, 32-7680 by 32-4320, e.g. 640x360.";
            return false;
        }

        LoadTestSource source;
        string? footage = null;
        switch (parse.GetValue(Source))
        {
            case "testsrc":
                source = LoadTestSource.TestSource;
                break;
            case "footage":
                source = LoadTestSource.Footage;
                footage = parse.GetValue(Footage) ?? (environment("DETEKTOR_FOOTAGE") is { Length: > 0 } dir ? Path.Combine(dir, "vtest.mp4") : null);
                if (footage is null || !File.Exists(footage))
                {
                    error = footage is null
                        ? "--source footage: no video; give --footage FILE or set DETEKTOR_FOOTAGE to the directory holding vtest.mp4."
                        : $"--footage: the file '{footage}' does not exist.";
                    return false;
                }

                break;
            default:
                error = $"--source: '{parse.GetValue(Source)}' is not allowed; allowed: testsrc, footage.";
                return false;
        }

        LoadTestMode mode;
        var redis = parse.GetValue(Redis);
        switch (parse.GetValue(Mode))
        {
            case "all-in-one":
                mode = LoadTestMode.AllInOne;
                if (redis is not null)
                {
                    error = "--redis: only with --mode distributed (all-in-one uses the in-process bus).";
                    return false;
                }

                break;
            case "distributed":
                mode = LoadTestMode.Distributed;
                if (string.IsNullOrWhiteSpace(redis))
                {
                    error = "--redis: --mode distributed needs Redis, e.g. --redis 127.0.0.1:6379.";
                    return false;
                }

                break;
            default:
                error = $"--mode: '{parse.GetValue(Mode)}' is not allowed; allowed: all-in-one, distributed.";
                return false;
        }

        var detect = parse.GetValue(Detect);
        if (detect is not ("on" or "off"))
        {
            error = $"--detect: '{detect}' is not allowed; allowed: on, off.";
            return false;
        }

        var detectFps = parse.GetValue(DetectFps);
        if (detectFps is < 0 or > 120 || double.IsNaN(detectFps))
        {
            error = "--detect-fps: out of range; allowed 0 (every frame) to 120.";
            return false;
        }

        var sample = parse.GetValue(TraceSample);
        if (sample is < 0 or > 1 || double.IsNaN(sample))
        {
            error = "--trace-sample: out of range; allowed 0 to 1.";
            return false;
        }

        var models = parse.GetValue(Models) ?? environment("DETEKTOR_MODELS");
        if (models is not null && !Directory.Exists(models))
        {
            error = $"--models: the directory '{models}' does not exist.";
            return false;
        }

        var settings = parse.GetValue(Set) ?? [];
        if (Array.Find(settings, s => s.IndexOf('=', StringComparison.Ordinal) <= 0) is { } bad)
        {
            error = $"--set: '{bad}' is not KEY=VALUE, e.g. --set Detektor:Bus:FramesCapacity=128.";
            return false;
        }

        if (!TryLimit(parse, MaxLost, 0, double.MaxValue, out var maxLost, out error) ||
            !TryLimit(parse, MinLifecycle, 0, 1, out var minLifecycle, out error) ||
            !TryLimit(parse, MinTrace, 0, 1, out var minTrace, out error) ||
            !TryLimit(parse, MaxOrphans, 0, double.MaxValue, out var maxOrphans, out error) ||
            !TryLimit(parse, MaxDropped, 0, 1, out var maxDropped, out error) ||
            !TryLimit(parse, MaxP95, 0, double.MaxValue, out var maxP95, out error) ||
            !TryLimit(parse, MaxRss, 0, double.MaxValue, out var maxRss, out error) ||
            !TryLimit(parse, MaxGrowth, double.MinValue, double.MaxValue, out var maxGrowth, out error) ||
            !TryLimit(parse, MaxRestarts, 0, int.MaxValue, out var maxRestarts, out error))
        {
            return false;
        }

        options = new LoadTestOptions
        {
            Cameras = cameras,
            Fps = fps,
            Duration = duration,
            Warmup = warmup,
            Drain = drain,
            Source = source,
            FootagePath = footage,
            Width = width,
            Height = height,
            Mode = mode,
            Redis = redis,
            Postgres = parse.GetValue(Postgres) ?? environment("DETEKTOR_LOADTEST_POSTGRES"),
            Detect = detect == "on",
            DetectFps = detectFps,
            ModelsDirectory = models,
            TraceSampleRatio = sample,
            Settings = settings,
            Json = parse.GetValue(Json),
            Keep = parse.GetValue(Keep),
            Gates = new LoadTestGates
            {
                MaxLost = (long?)maxLost,
                MinLifecycleCompleteness = minLifecycle,
                MinTraceCompleteness = minTrace,
                MaxOrphanSpans = (long?)maxOrphans,
                MaxDroppedShare = maxDropped,
                MaxP95Ms = maxP95,
                MaxPeakRssMb = maxRss,
                MaxRssGrowthPercent = maxGrowth,
                MaxRestarts = (int?)maxRestarts,
            },
        };
        return true;
    }

    private static bool TryDuration(ParseResult parse, Option<string> option, out TimeSpan value, out string? error)
    {
        error = null;
        if (LoadTestOptions.TryParseDuration(parse.GetValue(option), out value))
        {
            return true;
        }

        error = $"{option.Name}: '{parse.GetValue(option)}' is not a duration; use e.g. 30s, 5m, 1h or 1500ms.";
        return false;
    }

    /// <summary>A gate's limit: a number in [min, max], or <c>off</c> (null).</summary>
    private static bool TryLimit(ParseResult parse, Option<string> option, double min, double max, out double? value, out string? error)
    {
        value = null;
        error = null;
        var text = parse.GetValue(option);
        if (text is null or "off")
        {
            return true;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max)
        {
            value = v;
            return true;
        }

        error = min == 0 && max == 1
            ? $"{option.Name}: '{text}' is not allowed; allowed a share from 0 to 1, or off."
            : $"{option.Name}: '{text}' is not allowed; allowed a number{(min == 0 ? " ≥ 0" : string.Empty)}, or off.";
        return false;
    }
}
