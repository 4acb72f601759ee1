using Detektor.Core.Lifecycle;
using Detektor.Core.Telemetry;
using Detektor.Processing;
using Detektor.Processing.Pipeline;
using Detektor.Testing;

namespace Detektor.Tests.Pipeline;

/// <summary>
/// The foundation's promise, end to end: real ffmpeg frames flow through the bus, a processor and the store; every frame
/// has a complete lifecycle ending in exactly one terminal state with a reason; all of a frame's spans share one trace;
/// no span's parent is missing; the API and /metrics agree.
/// </summary>
public class PipelineTests
{
    private static Dictionary<string, string?> Camera(int fps, int width = 160, int height = 120) => new()
    {
        ["Detektor:CommandLineCameras:0:Fps"] = fps.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Detektor:CommandLineCameras:0:Width"] = width.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Detektor:CommandLineCameras:0:Height"] = height.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Detektor:Hosting:JsonLogs"] = "false",
    };

    [Fact]
    public async Task Run_TestPattern_EveryFrameCapturedToStoredWithOneTraceAndNoOrphanSpans()
    {
        RequiredTool.Find("ffmpeg");
        await using var host = new PipelineHost(Camera(fps: 25), [("cam1", "testsrc2://")]);
        await host.StartAsync();

        await host.WaitForStoredFramesAsync(40, TimeSpan.FromSeconds(60));
        using var metrics = await host.Http.GetAsync("metrics", TestContext.Current.CancellationToken);
        var metricsText = await metrics.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        using var list = await host.GetJsonAsync("api/v1/frames?camera_id=cam1&limit=5");
        var someFrameId = list.RootElement.GetProperty("items")[0].GetProperty("frame_id").GetString()!;
        using var journeyJson = await host.GetJsonAsync($"api/v1/frames/{someFrameId}");
        await host.StopAsync();

        // /metrics carries the frame counters.
        Assert.Matches(@"detektor_frames_captured_total\{[^}]*camera_id=""cam1""[^}]*\} [1-9]", metricsText);
        Assert.Matches(@"detektor_frames_stored_total\{[^}]*camera_id=""cam1""[^}]*\} [1-9]", metricsText);

        var journeys = await host.ReadAllJourneysAsync();
        Assert.True(journeys.Count >= 40, $"only {journeys.Count} frames stored");
        var spans = host.Spans;
        var spanIds = spans.Select(s => s.SpanId).ToHashSet();
        var spansByFrame = spans.Where(s => s.GetTagItem(SemanticAttributes.FrameId) is string).ToLookup(s => (string)s.GetTagItem(SemanticAttributes.FrameId)!);
        var stored = 0;
        foreach (var journey in journeys)
        {
            var id = journey.Frame.FrameId;
            var types = journey.Events.Select(e => e.Type).ToList();

            // Exactly one capture and exactly one terminal state, with a reason when dropped.
            Assert.Equal(1, types.Count(t => t == FrameEventType.Captured));
            Assert.Equal(1, types.Count(t => t.IsTerminal()));
            Assert.All(journey.Events.Where(e => e.Type.RequiresReason()), e => Assert.False(string.IsNullOrEmpty(e.Reason)));

            // One trace id for the whole journey.
            Assert.NotNull(journey.Frame.TraceId);
            Assert.All(journey.Events, e => Assert.Equal(journey.Frame.TraceId, e.TraceId.ToHexString()));

            if (types.Contains(FrameEventType.Stored))
            {
                stored++;
                Assert.Equal(
                    [FrameEventType.Captured, FrameEventType.Queued, FrameEventType.Dequeued, FrameEventType.ProcessingStarted, FrameEventType.ProcessingCompleted, FrameEventType.Stored],
                    types);
                Assert.Equal("stored", journey.Frame.State);
                Assert.Equal("processed", journey.Frame.Outcome);
                Assert.Equal(["capture", "queue", "sample", "store"], journey.Stages.Select(s => s.Stage));

                // Its spans: root "frame", the queue wait, the processor and the store, all in the journey's trace.
                var frameSpans = spansByFrame[id].ToList();
                Assert.Equal(
                    new[] { SpanNames.Frame, SpanNames.Queue, SpanNames.ProcessPrefix + "sample", SpanNames.Store }.Order(StringComparer.Ordinal),
                    frameSpans.Select(s => s.DisplayName).Order(StringComparer.Ordinal));
                Assert.All(frameSpans, s => Assert.Equal(journey.Frame.TraceId, s.TraceId.ToHexString()));
                var root = Assert.Single(frameSpans, s => s.DisplayName == SpanNames.Frame);
                Assert.Equal(default, root.ParentSpanId);
                Assert.All(frameSpans.Where(s => s != root), s => Assert.Equal(root.SpanId, s.ParentSpanId));
            }
            else
            {
                Assert.Contains(FrameEventType.Dropped, types);
            }
        }

        Assert.True(stored >= 40, $"only {stored} frames reached the store");

        // No orphans: every span of Detektor's own sources in this host's frames' traces has its parent exported too (or it
        // is a root). (HTTP server spans are children of this test's HttpClient spans, which are outside the system under
        // test. Activity listeners are process-wide: a pipeline host of another test running at the same time exports into
        // this one's exporter too, and the roots of its frames began before this host's tracer existed.)
        var ourTraces = journeys.Select(j => j.Frame.TraceId).ToHashSet(StringComparer.Ordinal);
        var ours = spans.Where(s => TelemetryNames.All.Contains(s.Source.Name) && ourTraces.Contains(s.TraceId.ToHexString())).ToList();
        Assert.True(ours.Count >= 160, $"only {ours.Count} pipeline spans exported");
        var orphans = ours.Where(s => s.ParentSpanId != default && !spanIds.Contains(s.ParentSpanId)).ToList();
        Assert.True(orphans.Count == 0, "orphan spans: " + string.Join(", ", orphans.Select(o => o.DisplayName)));

        // The API returned the journey the store holds: the newest frame was asked for while the pipeline ran, so the API
        // may have had only some of its events (CI saw 1 of 6); each of them is one the store holds.
        var apiJourney = journeyJson.RootElement;
        var fromStore = journeys.Single(j => j.Frame.FrameId == someFrameId);
        Assert.Equal(fromStore.Frame.TraceId, apiJourney.GetProperty("trace_id").GetString());
        var apiTypes = apiJourney.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()!).ToList();
        Assert.Equal("captured", apiTypes[0]);
        Assert.InRange(apiTypes.Count, 1, fromStore.Events.Count);
        var storeTypes = fromStore.Events.Select(e => e.Type.ToWireName()).ToList();
        Assert.All(apiTypes.CountBy(t => t), c => Assert.True(storeTypes.Count(t => t == c.Key) >= c.Value, $"the API's '{c.Key}' events are not all in the store"));
    }

    [Fact]
    public async Task Run_ProcessorSlowerThanCamera_DropsOldestFramesWithReasonAndLosesNone()
    {
        RequiredTool.Find("ffmpeg");
        var settings = Camera(fps: 50, width: 64, height: 48);
        settings["Detektor:Bus:FramesCapacity"] = "2";
        settings["Detektor:Processing:Concurrency"] = "1";
        await using var host = new PipelineHost(settings, [("fast", "testsrc://")], b => b.AddFrameProcessor<SlowProcessor>());
        await host.StartAsync();

        await host.WaitForStoredFramesAsync(60, TimeSpan.FromSeconds(60));
        using var metrics = await host.Http.GetAsync("metrics", TestContext.Current.CancellationToken);
        var metricsText = await metrics.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await host.StopAsync();

        var journeys = await host.ReadAllJourneysAsync();
        var dropped = journeys.Where(j => j.Events.Any(e => e.Type == FrameEventType.Dropped)).ToList();
        var storedCount = journeys.Count(j => j.Events.Any(e => e.Type == FrameEventType.Stored));
        var lost = journeys.Count(j => !j.Events.Any(e => e.Type.IsTerminal()));

        Assert.Equal(0, lost);
        Assert.True(dropped.Count > 0, "a processor 20x slower than the camera must cause drops");
        Assert.True(storedCount > 0);
        Assert.Equal(journeys.Count, dropped.Count + storedCount);
        Assert.All(dropped, j =>
        {
            var drop = j.Events.Single(e => e.Type == FrameEventType.Dropped);
            Assert.Contains(drop.Reason, new[] { DropReasons.QueueFull, DropReasons.Shutdown });
            Assert.Equal("dropped", j.Frame.Outcome);
            Assert.Equal(drop.Reason, j.Frame.Reason);
        });
        Assert.Contains("pipeline_reason=\"queue_full\"", metricsText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ProcessorSlowerThanCamera_BreakerOpensAndCaptureSkipsFramesAsBackpressureBeforeQueueing()
    {
        RequiredTool.Find("ffmpeg");
        var settings = Camera(fps: 50, width: 64, height: 48);
        settings["Detektor:Bus:FramesCapacity"] = "8";
        settings["Detektor:Processing:Concurrency"] = "1";
        await using var host = new PipelineHost(settings, [("fast", "testsrc://")], b => b.AddFrameProcessor<SlowProcessor>());
        await host.StartAsync();

        // While the processor falls behind, the breaker opens (it counts each opening): the bus endpoint says so.
        var opened = await Eventually.WaitAsync(
            async () =>
            {
                var text = await host.Http.GetStringAsync("api/v1/bus", TestContext.Current.CancellationToken);
                return System.Text.Json.JsonDocument.Parse(text).RootElement.Clone();
            },
            bus => bus.GetProperty("breaker").GetProperty("opened").GetInt64() >= 1,
            TimeSpan.FromSeconds(60),
            "the backpressure breaker open");
        await host.WaitForStoredFramesAsync(100, TimeSpan.FromSeconds(90));
        using var metrics = await host.Http.GetAsync("metrics", TestContext.Current.CancellationToken);
        var metricsText = await metrics.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await host.StopAsync();

        var journeys = await host.ReadAllJourneysAsync();
        var shed = journeys.Where(j => j.Events.Any(e => e.Type == FrameEventType.Skipped && e.Reason == SkipReasons.Backpressure)).ToList();
        var queued = journeys.Count(j => j.Events.Any(e => e.Type == FrameEventType.Queued));

        Assert.Equal(0.25, opened.GetProperty("breaker").GetProperty("open_admit_ratio").GetDouble());
        Assert.NotEmpty(shed);
        Assert.True(queued < journeys.Count, $"capture queued {queued} of {journeys.Count} frames: it lowers its rate while the breaker is open");
        Assert.All(shed, j =>
        {
            // Shed at capture: never queued, never processed, and still accounted for to the end.
            var skip = j.Events.Single(e => e.Type == FrameEventType.Skipped);
            Assert.Equal("capture", skip.Stage);
            Assert.DoesNotContain(j.Events, e => e.Type is FrameEventType.Queued or FrameEventType.ProcessingStarted);
            Assert.Equal("skipped", j.Frame.Outcome);
            Assert.Contains(j.Events, e => e.Type == FrameEventType.Stored);
        });
        Assert.Equal(0, journeys.Count(j => !j.Events.Any(e => e.Type.IsTerminal())));
        Assert.Contains("pipeline_reason=\"backpressure\"", metricsText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_DetectFpsBelowCameraFps_CaptureSkipsFramesNotDueAndPublishesOnlyDueOnes()
    {
        RequiredTool.Find("ffmpeg");
        using var noModels = new TempDirectory("detektor-no-models");
        var settings = Camera(fps: 10);
        settings["Detektor:Detection:Enabled"] = "true";
        settings["Detektor:Detection:DetectFps"] = "2";
        settings["Detektor:Detection:MotionThreshold"] = "0";
        settings["Detektor:Detection:FacesEnabled"] = "false";
        settings["Detektor:Detection:LoadShedding:Enabled"] = "false";
        settings["Detektor:Detection:ModelsDirectory"] = noModels.Path;
        settings["Detektor:Detection:PullOnStart"] = "false";
        await using var host = new PipelineHost(settings, [("cam1", "testsrc2://")]);
        await host.StartAsync();

        await host.WaitForStoredFramesAsync(40, TimeSpan.FromSeconds(60));
        using var metrics = await host.Http.GetAsync("metrics", TestContext.Current.CancellationToken);
        var metricsText = await metrics.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        await host.StopAsync();

        var journeys = (await host.ReadAllJourneysAsync()).OrderBy(j => j.Frame.CapturedAt).ToList();
        var atCapture = journeys.Where(j => j.Events.Any(e => e.Type == FrameEventType.Skipped && e.Stage == "capture")).ToList();
        var queued = journeys.Where(j => j.Events.Any(e => e.Type == FrameEventType.Queued)).ToList();

        Assert.Equal(0, journeys.Count(j => !j.Events.Any(e => e.Type.IsTerminal())));
        Assert.Equal(journeys.Count, atCapture.Count + queued.Count);

        // Frames not due at 2 fps: skipped where they were read, never queued, never seen by a processor, still stored.
        Assert.True(atCapture.Count >= 3 * queued.Count, $"{atCapture.Count} skipped at capture, {queued.Count} queued: 10 fps at 2 detect fps is 4 of 5 skipped");
        Assert.All(atCapture, j =>
        {
            var skip = j.Events.Single(e => e.Type == FrameEventType.Skipped);
            Assert.Equal(SkipReasons.Fps, skip.Reason);
            Assert.DoesNotContain(j.Events, e => e.Type is FrameEventType.Queued or FrameEventType.ProcessingStarted);
            Assert.Equal("skipped", j.Frame.Outcome);
            Assert.Contains(j.Events, e => e.Type == FrameEventType.Stored);
        });

        // Due frames reach the chain, whose own fps gate lets every one of them through: they are at least 95 % of 500 ms apart.
        Assert.True(queued.Count >= 5, $"only {queued.Count} frames were due");
        Assert.All(queued, j => Assert.DoesNotContain(j.Events, e => e.Type == FrameEventType.Skipped && e.Reason == SkipReasons.Fps));
        var gaps = queued.Zip(queued.Skip(1), (a, b) => (b.Frame.CapturedAt - a.Frame.CapturedAt).TotalMilliseconds).ToList();
        Assert.All(gaps, gap => Assert.True(gap >= 475, $"due frames {gap} ms apart"));
        Assert.Contains(
            metricsText.Split('\n'),
            line => line.StartsWith("detektor_frames_skipped_total{", StringComparison.Ordinal) && line.Contains("pipeline_reason=\"fps\"", StringComparison.Ordinal)
                && line.Contains("pipeline_stage=\"capture\"", StringComparison.Ordinal));
    }

    /// <summary>Takes 40 ms per frame: slower than a 50 fps camera.</summary>
    private sealed class SlowProcessor : FrameProcessor
    {
        public override string Name => "slow";

        public override async ValueTask<ProcessorResult> ProcessAsync(FrameContext frame, CancellationToken cancellationToken)
        {
            await Task.Delay(40, cancellationToken);
            return ProcessorResult.Continue;
        }
    }
}
