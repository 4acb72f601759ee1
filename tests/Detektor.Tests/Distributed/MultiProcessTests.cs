using System.Globalization;
using System.Net;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Tests.Distributed;

/// <summary>
/// Detektor split over separate <c>detektor</c> processes that talk through a real Redis: one capture (ffmpeg test
/// pattern), two processors in one consumer group, one store+api. Spans go by OTLP to a loopback receiver, so the
/// checks see what a tracing backend would: one trace per frame across processes and no span whose parent is missing.
/// </summary>
public sealed class MultiProcessTests(PostgresFixture postgres)
{
    private const string Capture = "detektor-capture";
    private const string ProcessA = "detektor-process-a";
    private const string ProcessB = "detektor-process-b";
    private const string Store = "detektor-store";
    private const string RedisBreaker = "breaker=\"redis\"";

    private static string[] Common(RedisServer redis, params string[] more) =>
        ["--redis", redis.Endpoint, "--set", "Detektor:Bus:ClaimIdleMs=3000", "--set", "Detektor:Bus:Registry:TtlSeconds=3", .. more];

    private static string[] Camera(int fps) =>
        ["--camera", "cam1=testsrc2://", "--set", $"Detektor:CommandLineCameras:0:Fps={fps}", "--set", "Detektor:CommandLineCameras:0:Width=160",
            "--set", "Detektor:CommandLineCameras:0:Height=120"];

    [Fact]
    public async Task Run_SplitRolesOverRedis_EveryFrameProcessedOnceWithOneTraceAndNoOrphanSpans()
    {
        RequiredTool.Find("ffmpeg");
        await using var redis = await RedisServer.StartAsync();
        await using var otlp = await OtlpTraceListener.StartAsync();
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", .. Common(redis)], otlp.Environment(Store));
        await using var a = DetektorProcess.Start("process-a", ["--roles", "process", .. Common(redis, "--set", "Detektor:Processing:Concurrency=1")], otlp.Environment(ProcessA));
        await using var b = DetektorProcess.Start("process-b", ["--roles", "process", .. Common(redis, "--set", "Detektor:Processing:Concurrency=1")], otlp.Environment(ProcessB));
        await Task.WhenAll(store.WaitReadyAsync(), a.WaitReadyAsync(), b.WaitReadyAsync());
        await using var capture = DetektorProcess.Start("capture", ["--roles", "capture", .. Common(redis), .. Camera(fps: 10)], otlp.Environment(Capture));
        await capture.WaitReadyAsync();

        await WaitStoredAsync(store, 60, [capture, a, b]);
        using var processors = await store.GetJsonAsync("api/v1/processors");
        await capture.StopAsync();
        var journeys = await WaitAllTerminalAsync(store);
        await Task.WhenAll(a.StopAsync(), b.StopAsync());
        await store.StopAsync();

        var ids = processors.RootElement.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("id").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { a.InstanceId, b.InstanceId }, ids);
        Assert.True(journeys.Count >= 60, $"{journeys.Count} frames");
        var byProcessor = new Dictionary<string, int>(StringComparer.Ordinal);
        var stored = new List<Journey>();
        foreach (var journey in journeys)
        {
            AssertCompleteWithOneTrace(journey);
            if (journey.Has("stored"))
            {
                // Processed exactly once, by one of the two processors, in order, across three processes.
                Assert.Equal(["captured", "queued", "dequeued", "processing_started", "processing_completed", "stored"], journey.Types);
                var processor = journey.Single("dequeued").Service;
                Assert.Contains(processor, new[] { ProcessA, ProcessB });
                Assert.Equal(processor, journey.Single("processing_completed").Service);
                Assert.Equal(Capture, journey.Single("captured").Service);
                Assert.Equal(Store, journey.Single("stored").Service);
                byProcessor[processor] = byProcessor.GetValueOrDefault(processor) + 1;
                stored.Add(journey);
            }
        }

        Assert.True(byProcessor.GetValueOrDefault(ProcessA) > 0 && byProcessor.GetValueOrDefault(ProcessB) > 0,
            $"both processors of the group take frames: {string.Join(", ", byProcessor)}");
        var spans = await WaitForSpansAsync(otlp, stored);
        foreach (var journey in stored)
        {
            var frameSpans = spans.Where(s => s.FrameId == journey.FrameId).ToList();
            Assert.Equal(["frame", "frame.queue", "process sample", "store"], frameSpans.Select(s => s.Name).Order(StringComparer.Ordinal));
            Assert.All(frameSpans, s => Assert.Equal(journey.TraceId, s.TraceId));
            var root = Assert.Single(frameSpans, s => s.Name == "frame");
            Assert.Equal(string.Empty, root.ParentSpanId);
            Assert.Equal(Capture, root.Service);
            Assert.All(frameSpans.Where(s => s != root), s => Assert.Equal(root.SpanId, s.ParentSpanId));
            Assert.Equal(journey.Single("dequeued").Service, frameSpans.Single(s => s.Name == "process sample").Service);
            Assert.Equal(Store, frameSpans.Single(s => s.Name == "store").Service);
        }

        AssertNoOrphans(spans);
    }

    [Fact]
    public async Task KillProcessor_WhileItHoldsFrames_TheOtherReclaimsAndProcessesThemAndTheDeadOneExpires()
    {
        RequiredTool.Find("ffmpeg");
        await using var redis = await RedisServer.StartAsync();
        await using var otlp = await OtlpTraceListener.StartAsync();
        // A holds each frame for 1 s, so that "A holds frames" (read from the store's bus snapshot, which may be a moment
        // old) is still true when the kill lands: with 250 ms, as B has, A held nothing at the kill in one CI run and B
        // had nothing to reclaim. B alone (2 × 4 fps) keeps ahead of the camera's 6 fps, so A's frames are not trimmed
        // from the stream before B's claim (3 s idle) comes round.
        string[] slowA = ["--set", "Detektor:Processing:Concurrency=2", "--set", "Detektor:Processing:SimulatedWorkMs=1000"];
        string[] slowB = ["--set", "Detektor:Processing:Concurrency=2", "--set", "Detektor:Processing:SimulatedWorkMs=250"];
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", .. Common(redis)], otlp.Environment(Store));
        await using var a = DetektorProcess.Start("process-a", ["--roles", "process", .. Common(redis, slowA)], otlp.Environment(ProcessA));
        await using var b = DetektorProcess.Start("process-b", ["--roles", "process", .. Common(redis, slowB)], otlp.Environment(ProcessB));
        await Task.WhenAll(store.WaitReadyAsync(), a.WaitReadyAsync(), b.WaitReadyAsync());
        await using var capture = DetektorProcess.Start("capture", ["--roles", "capture", .. Common(redis), .. Camera(fps: 6)], otlp.Environment(Capture));
        await capture.WaitReadyAsync();
        await WaitStoredAsync(store, 20, [capture, a, b]);

        // kill -9 the moment A holds frames (delivered to it, not yet acknowledged).
        var held = await Eventually.WaitAsync(async () => await PendingOfAsync(store, a.InstanceId), n => n > 0, TimeSpan.FromSeconds(60), "process-a to hold frames");
        await a.KillAsync();
        await Eventually.WaitAsync(async () => await PendingOfAsync(store, a.InstanceId), n => n == 0, TimeSpan.FromSeconds(60), "process-a's frames to be reclaimed");
        var processors = await Eventually.WaitAsync(
            async () =>
            {
                using var doc = await store.GetJsonAsync("api/v1/processors");
                return doc.RootElement.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("id").GetString()!).ToList();
            },
            list => !list.Contains(a.InstanceId),
            TimeSpan.FromSeconds(60),
            "process-a's registration to expire");
        await capture.StopAsync();
        var journeys = await WaitAllTerminalAsync(store);
        var reclaimedByB = await Eventually.WaitAsync(
            async () => Reclaimed(await b.Http.GetStringAsync("metrics")), n => n > 0, TimeSpan.FromSeconds(30), "process-b to count the frames it reclaimed");
        await b.StopAsync();
        await store.StopAsync();

        Assert.Contains(b.InstanceId, processors);
        // Frames A held are processed again by B: B's reclaimed counter proves the takeover. A journey also shows it as two
        // dequeues when A's `dequeued` event got out before the kill; under a heavy load A can die between reading a frame
        // and publishing that event, and then only B's dequeue is there (such journeys are checked like any other below).
        Assert.True(reclaimedByB >= 1);
        Assert.True(held > 0);
        foreach (var journey in journeys)
        {
            AssertCompleteWithOneTrace(journey);
            var dequeues = journey.Events.Where(e => e.Type == "dequeued").ToList();
            if (dequeues.Count > 1)
            {
                // Delivered to A, which died with it; reclaimed and finished by B.
                Assert.Equal(ProcessA, dequeues[0].Service);
                Assert.All(dequeues.Skip(1), d => Assert.Equal(ProcessB, d.Service));
                Assert.True(journey.Events.Count(e => e is { Type: "processing_completed", Stage: "simulated", Service: ProcessA }) <= 1);
                Assert.Equal(1, journey.Events.Count(e => e is { Type: "processing_completed", Stage: "simulated", Service: ProcessB }));
                Assert.True(journey.Has("stored"), $"retried frame {journey.FrameId} was not stored");
            }
            else if (journey.Has("stored"))
            {
                Assert.Single(dequeues);
                Assert.Equal(1, journey.Events.Count(e => e is { Type: "processing_completed", Stage: "simulated" }));
            }
        }

        AssertNoOrphans(await WaitForSpansAsync(otlp, journeys.Where(j => j.Has("stored")).ToList()));
    }

    [Fact]
    public async Task RedisKilledAndRestarted_MidRun_PipelineResumesByItselfAndEveryFrameEnds()
    {
        RequiredTool.Find("ffmpeg");
        await using var redis = await RedisServer.StartAsync(appendFsync: "always");
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", .. Common(redis)]);
        await using var processor = DetektorProcess.Start("process", ["--roles", "process", .. Common(redis)]);
        await Task.WhenAll(store.WaitReadyAsync(), processor.WaitReadyAsync());
        await using var capture = DetektorProcess.Start("capture", ["--roles", "capture", .. Common(redis), .. Camera(fps: 10)]);
        await capture.WaitReadyAsync();
        await WaitStoredAsync(store, 20, [capture, processor]);
        var before = (await ListFramesAsync(store)).Count(f => f.State == "stored");

        await redis.KillAsync();
        await Eventually.WaitAsync(async () => await ReadyStatusAsync(processor), s => s == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(30), "process not ready");
        await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        await redis.StartAgainAsync();

        await Task.WhenAll(store.WaitReadyAsync(), processor.WaitReadyAsync(), capture.WaitReadyAsync());
        await WaitStoredAsync(store, before + 30, [capture, processor]);
        await capture.StopAsync();
        var journeys = await WaitAllTerminalAsync(store);
        using var deadLetters = await store.GetJsonAsync("api/v1/bus/deadletters");
        await processor.StopAsync();
        await store.StopAsync();

        Assert.Equal(0, deadLetters.RootElement.GetProperty("items").GetArrayLength());
        Assert.All(journeys, AssertCompleteWithOneTrace);
        Assert.True(journeys.Count(j => j.Has("stored")) >= before + 30);
        Assert.All(journeys.Where(j => j.Has("dropped")), j => Assert.Contains(j.Single("dropped").Reason, new[] { "bus_unavailable", "queue_full", "shutdown" }));
    }

    [Fact]
    public async Task RedisKilledForTenSeconds_CaptureRole_KeepsReadingDropsAsBusUnavailableSpillsAndReplaysWithNoFrameLost()
    {
        RequiredTool.Find("ffmpeg");
        await using var redis = await RedisServer.StartAsync(appendFsync: "always");
        string[] breaker =
        [
            "--set", "Detektor:Resilience:Breakers:redis:SamplingDurationSeconds=2", "--set", "Detektor:Resilience:Breakers:redis:BreakDurationSeconds=1",
            "--set", "Detektor:Resilience:Breakers:redis:MinimumThroughput=2",
        ];
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", .. Common(redis)]);
        await using var processor = DetektorProcess.Start("process", ["--roles", "process", .. Common(redis)]);
        await Task.WhenAll(store.WaitReadyAsync(), processor.WaitReadyAsync());
        await using var capture = DetektorProcess.Start("capture", ["--roles", "capture", .. Common(redis, breaker), .. Camera(fps: 10)]);
        await capture.WaitReadyAsync();
        var before = await WaitStoredAsync(store, 20, [capture, processor]);

        await redis.KillAsync();
        var framesAtKill = PrometheusText.Sum(await MetricsAsync(capture), "detektor_camera_frames_total");
        await Task.Delay(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken); // the outage
        var outage = await Eventually.WaitAsync(
            () => MetricsAsync(capture),
            m => PrometheusText.Sum(m, "detektor_camera_frames_total") > framesAtKill + 20
                 && PrometheusText.Sum(m, "detektor_circuit_breaker_transitions_total", RedisBreaker, "state=\"open\"") >= 1
                 && PrometheusText.Sum(m, "detektor_bus_lifecycle_spill_events") > 0,
            TimeSpan.FromSeconds(60),
            "capture reading frames with Redis down, the redis breaker opened and events spilled");
        using (var health = await capture.GetJsonAsync("health"))
        {
            Assert.Equal("degraded", health.RootElement.GetProperty("checks").GetProperty("lifecycle-spill").GetString());
        }

        var framesDuringOutage = PrometheusText.Sum(outage, "detektor_camera_frames_total") - framesAtKill;
        await redis.StartAgainAsync();

        await Task.WhenAll(store.WaitReadyAsync(), processor.WaitReadyAsync(), capture.WaitReadyAsync());
        var recovered = await Eventually.WaitAsync(
            () => MetricsAsync(capture),
            m => PrometheusText.Sum(m, "detektor_bus_lifecycle_spill_events") == 0
                 && PrometheusText.Sum(m, "detektor_bus_lifecycle_spill_replayed_total") >= PrometheusText.Sum(m, "detektor_bus_lifecycle_spill_spilled_total")
                 && PrometheusText.Sum(m, "detektor_circuit_breaker_transitions_total", RedisBreaker, "state=\"closed\"") >= 1
                 && PrometheusText.Sum(m, "detektor_circuit_breaker_state", RedisBreaker) == 0,
            TimeSpan.FromSeconds(120),
            "the spill replayed and the redis breaker closed");
        await WaitStoredAsync(store, before + 20, [capture, processor]);
        var capturedTotal = PrometheusText.Sum(await MetricsAsync(capture), "detektor_frames_captured_total");
        await capture.StopAsync();
        var journeys = await WaitAllTerminalAsync(store);
        await processor.StopAsync();
        await store.StopAsync();

        // Every frame capture read reached the store with a terminal event (0 lost), including those read during the outage.
        Assert.All(journeys, AssertCompleteWithOneTrace);
        Assert.True(journeys.Count >= capturedTotal, $"{journeys.Count} journeys in the store, {capturedTotal} frames captured");
        var unavailable = journeys.Where(j => j.Has("dropped") && j.Single("dropped").Reason == "bus_unavailable").ToList();
        Assert.True(unavailable.Count >= framesDuringOutage, $"{unavailable.Count} frames dropped as bus_unavailable, {framesDuringOutage} read while Redis was down");
        Assert.All(unavailable, j => Assert.Equal(["captured", "queued", "dropped"], j.Types.Where(t => t is "captured" or "queued" or "dropped")));
        var spilled = PrometheusText.Sum(recovered, "detektor_bus_lifecycle_spill_spilled_total");
        Assert.True(spilled >= 3 * framesDuringOutage, $"{spilled} events spilled for {framesDuringOutage} frames");
        Assert.Equal(spilled, PrometheusText.Sum(recovered, "detektor_bus_lifecycle_spill_replayed_total"));
        Assert.Equal(0, PrometheusText.Sum(recovered, "detektor_bus_lifecycle_spill_full_total"));
    }

    [Fact]
    public async Task Run_StoreRoleOnPostgres_FramesApiAnswersFromPostgresWithEveryJourneyComplete()
    {
        RequiredTool.Find("ffmpeg");
        var server = await postgres.GetServerAsync();
        var database = await server.CreateDatabaseAsync(cancellationToken: TestContext.Current.CancellationToken);
        await using var redis = await RedisServer.StartAsync();
        await using var store = DetektorProcess.Start("store", ["--roles", "store,api", "--postgres", database, .. Common(redis)]);
        await using var processor = DetektorProcess.Start("process", ["--roles", "process", .. Common(redis)]);
        await Task.WhenAll(store.WaitReadyAsync(), processor.WaitReadyAsync());
        await using var capture = DetektorProcess.Start("capture", ["--roles", "capture", .. Common(redis), .. Camera(fps: 10)]);
        await capture.WaitReadyAsync();

        await WaitStoredAsync(store, 30, [capture, processor]);
        await capture.StopAsync();
        var journeys = await WaitAllTerminalAsync(store);
        using var health = await store.GetJsonAsync("health");
        var storedInDatabase = Convert.ToInt64(
            await PostgresServer.ScalarAsync(database, "SELECT count(*) FROM frame_events WHERE type = 'stored'", TestContext.Current.CancellationToken),
            System.Globalization.CultureInfo.InvariantCulture);
        var output = store.Output;
        await processor.StopAsync();
        await store.StopAsync();

        Assert.Equal("postgresql", health.RootElement.GetProperty("metadata").GetProperty("event_store").GetProperty("provider").GetString());
        Assert.All(journeys, AssertCompleteWithOneTrace);
        Assert.Equal(journeys.Count(j => j.Has("stored")), storedInDatabase);
        Assert.True(storedInDatabase >= 30, $"{storedInDatabase} stored");
        Assert.DoesNotContain(server.Password, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisDownAtStart_ReadinessFailsNamingRedis_ThenRecoversWhenItComesUp()
    {
        await using var redis = RedisServer.Create();
        await using var processor = DetektorProcess.Start("process", ["--roles", "process", .. Common(redis)]);

        var down = await Eventually.WaitAsync(
            async () =>
            {
                try
                {
                    using var response = await processor.Http.GetAsync("ready");
                    return (Status: response.StatusCode, Body: await response.Content.ReadAsStringAsync());
                }
                catch (HttpRequestException)
                {
                    return (Status: HttpStatusCode.ServiceUnavailable, Body: string.Empty);
                }
            },
            r => r.Body.Contains("\"redis\"", StringComparison.Ordinal),
            TimeSpan.FromSeconds(90),
            "a /ready answer");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.Status);
        using (var doc = JsonDocument.Parse(down.Body))
        {
            Assert.Equal("unhealthy", doc.RootElement.GetProperty("status").GetString());
            Assert.Equal("unhealthy", doc.RootElement.GetProperty("checks").GetProperty("redis").GetString());
            var description = doc.RootElement.GetProperty("metadata").GetProperty("check_details").GetProperty("redis").GetProperty("description").GetString();
            Assert.Contains($"redis at {redis.Endpoint} is unreachable", description, StringComparison.Ordinal);
        }

        await redis.StartAgainAsync();
        await processor.WaitReadyAsync();
        using var health = await processor.GetJsonAsync("ready");
        Assert.Equal("healthy", health.RootElement.GetProperty("checks").GetProperty("redis").GetString());
        Assert.False(processor.HasExited);
    }

    private static void AssertCompleteWithOneTrace(Journey journey)
    {
        Assert.True(journey.Types.Count(t => t == "captured") == 1, $"frame {journey.FrameId}: {string.Join(",", journey.Events.Select(e => $"{e.Type}/{e.Service}/{e.Reason}"))}");
        Assert.True(journey.Has("stored") || journey.Has("dropped"), $"frame {journey.FrameId} has no terminal event: {string.Join(",", journey.Types)}");
        Assert.All(journey.Events.Where(e => e.Type is "dropped" or "skipped"), e => Assert.False(string.IsNullOrEmpty(e.Reason)));
        Assert.False(string.IsNullOrEmpty(journey.TraceId));
        Assert.All(journey.Events, e => Assert.Equal(journey.TraceId, e.TraceId));
    }

    private static void AssertNoOrphans(IReadOnlyList<ExportedSpan> spans)
    {
        var ids = spans.Select(s => s.SpanId).ToHashSet(StringComparer.Ordinal);
        var orphans = spans.Where(s => s.ParentSpanId.Length > 0 && !ids.Contains(s.ParentSpanId)).ToList();
        Assert.True(orphans.Count == 0, "orphan spans: " + string.Join(", ", orphans.Take(10).Select(o => $"{o.Name}@{o.Service} frame {o.FrameId}")));
    }

    /// <summary>The spans of every stored frame have arrived (exporters flush on stop; the receiver may lag a little).</summary>
    private static Task<IReadOnlyList<ExportedSpan>> WaitForSpansAsync(OtlpTraceListener otlp, IReadOnlyList<Journey> stored) =>
        Eventually.WaitAsync(
            () => Task.FromResult(otlp.Spans),
            spans =>
            {
                var perFrame = spans.Where(s => s.FrameId is not null).GroupBy(s => s.FrameId!).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
                return stored.All(j => perFrame.GetValueOrDefault(j.FrameId) >= 4);
            },
            TimeSpan.FromSeconds(30),
            "the spans of every stored frame");

    /// <summary><c>detektor_bus_messages_reclaimed_total</c> of the frames topic in a Prometheus text.</summary>
    private static long Reclaimed(string metrics) =>
        metrics.Split('\n')
            .Where(l => l.StartsWith("detektor_bus_messages_reclaimed_total{", StringComparison.Ordinal) && l.Contains("frames\"", StringComparison.Ordinal))
            .Sum(l => (long)double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static async Task<long> PendingOfAsync(DetektorProcess api, string instance)
    {
        using var bus = await api.GetJsonAsync("api/v1/bus");
        long pending = 0;
        foreach (var topic in bus.RootElement.GetProperty("topics").EnumerateArray())
        {
            foreach (var group in topic.GetProperty("groups").EnumerateArray())
            {
                foreach (var consumer in group.GetProperty("consumers").EnumerateArray())
                {
                    if (consumer.GetProperty("name").GetString()!.StartsWith(instance + "-", StringComparison.Ordinal))
                    {
                        pending += consumer.GetProperty("pending").GetInt64();
                    }
                }
            }
        }

        return pending;
    }

    private static Task<string> MetricsAsync(DetektorProcess process) => process.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken);

    private static async Task<HttpStatusCode> ReadyStatusAsync(DetektorProcess process)
    {
        try
        {
            using var response = await process.Http.GetAsync("ready");
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return HttpStatusCode.ServiceUnavailable;
        }
    }

    private static Task<int> WaitStoredAsync(DetektorProcess store, int count, IReadOnlyList<DetektorProcess> others) =>
        Eventually.WaitAsync(
            async () =>
            {
                foreach (var other in others.Append(store))
                {
                    if (other.HasExited)
                    {
                        throw new InvalidOperationException($"{other.Name} exited:\n{other.Output}");
                    }
                }

                return (await ListFramesAsync(store)).Count(f => f.State == "stored");
            },
            n => n >= count,
            TimeSpan.FromSeconds(120),
            $"{count} stored frames");

    private sealed record FrameRow(string FrameId, string State);

    private static async Task<List<FrameRow>> ListFramesAsync(DetektorProcess store)
    {
        var rows = new List<FrameRow>();
        string? cursor = null;
        do
        {
            using var page = await store.GetJsonAsync("api/v1/frames?limit=1000" + (cursor is null ? string.Empty : "&cursor=" + Uri.EscapeDataString(cursor)));
            foreach (var item in page.RootElement.GetProperty("items").EnumerateArray())
            {
                rows.Add(new FrameRow(item.GetProperty("frame_id").GetString()!, item.GetProperty("state").GetString()!));
            }

            cursor = page.RootElement.TryGetProperty("next_cursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (cursor is not null);
        return rows;
    }

    /// <summary>
    /// Waits until the store has consumed everything (results and lifecycle topics empty, nothing pending: a result can
    /// arrive before a frame's last events) and every frame it knows reached stored or dropped, then reads each journey.
    /// </summary>
    private static async Task<List<Journey>> WaitAllTerminalAsync(DetektorProcess store)
    {
        await Eventually.WaitAsync(
            async () =>
            {
                using var bus = await store.GetJsonAsync("api/v1/bus");
                return bus.RootElement.GetProperty("topics").EnumerateArray()
                    .Where(t => t.GetProperty("name").GetString() is "results" or "lifecycle")
                    .Sum(t => t.GetProperty("depth").GetInt64() + t.GetProperty("pending").GetInt64());
            },
            left => left == 0,
            TimeSpan.FromSeconds(120),
            "the store to consume every result and lifecycle event");
        var frames = await Eventually.WaitAsync(
            async () => await ListFramesAsync(store),
            rows => rows.Count > 0 && rows.All(r => r.State is "stored" or "dropped"),
            TimeSpan.FromSeconds(120),
            "every frame in a terminal state");
        var journeys = new List<Journey>(frames.Count);
        foreach (var frame in frames)
        {
            using var doc = await store.GetJsonAsync("api/v1/frames/" + Uri.EscapeDataString(frame.FrameId));
            journeys.Add(Journey.From(doc.RootElement));
        }

        return journeys;
    }

    private sealed record JourneyEvent(string Type, string Stage, string Service, string? TraceId, string? Reason);

    private sealed record Journey(string FrameId, string TraceId, IReadOnlyList<JourneyEvent> Events)
    {
        public IReadOnlyList<string> Types => [.. Events.Select(e => e.Type)];

        public bool Has(string type) => Events.Any(e => e.Type == type);

        public JourneyEvent Single(string type) => Assert.Single(Events, e => e.Type == type);

        public static Journey From(JsonElement json) => new(
            json.GetProperty("frame_id").GetString()!,
            json.TryGetProperty("trace_id", out var trace) ? trace.GetString() ?? string.Empty : string.Empty,
            [.. json.GetProperty("events").EnumerateArray().Select(e => new JourneyEvent(
                e.GetProperty("type").GetString()!,
                e.GetProperty("stage").GetString()!,
                e.GetProperty("service").GetString()!,
                e.TryGetProperty("trace_id", out var t) ? t.GetString() : null,
                e.TryGetProperty("reason", out var r) ? r.GetString() : null))]);
    }
}
