using System.Globalization;
using Detektor.Testing;

namespace Detektor.Tests.Distributed;

/// <summary>
/// Fault injection on a real <c>detektor run</c> (child process, real ffmpeg): each fault heals by itself within 30 s
/// (the wait bound, not a timing assertion) and shows in <c>/health</c> and <c>/metrics</c> with its restart counted.
/// Exactly-once under a database outage is proven in Storage.Tests' PostgresOutageTests, Redis' durability in Bus.Tests'
/// RedisFaultTests and MultiProcessTests; here the same faults are seen from outside, through /ready and /metrics.
/// </summary>
public sealed class SupervisorFaultTests
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Run_CamerasFfmpegKilled_CaptureResumesReconnectCountedAndHealthReturnsHealthy()
    {
        RequiredTool.Find("ffmpeg");
        await using var sut = DetektorProcess.Start("ffmpeg-killed", ["--camera", "cam=testsrc2://"]);
        await sut.WaitReadyAsync();
        var before = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(HealthLine("camera:cam", "healthy", 1), StringComparison.Ordinal) && Sum(m, "detektor_camera_frames_total") > 0,
            TimeSpan.FromSeconds(90),
            "camera:cam healthy and streaming");
        Assert.Equal(0, Sum(before, "detektor_camera_reconnects_total"));
        Assert.Contains(LoopStateLine("camera:cam", "running", 1), before, StringComparison.Ordinal);

        var ffmpeg = ChildProcesses(sut.ProcessId, "ffmpeg");
        Assert.Single(ffmpeg);
        using (var child = System.Diagnostics.Process.GetProcessById(ffmpeg[0]))
        {
            child.Kill();
        }

        var framesAtKill = Sum(await sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken), "detektor_camera_frames_total");
        var after = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => Sum(m, "detektor_camera_reconnects_total") >= 1 && Sum(m, "detektor_camera_frames_total") > framesAtKill + 10,
            Recovery,
            "a reconnect counted and frames flowing again");
        Assert.Equal(1, Sum(after, "detektor_camera_reconnects_total"));
        var newFfmpeg = ChildProcesses(sut.ProcessId, "ffmpeg");
        Assert.Single(newFfmpeg);
        Assert.NotEqual(ffmpeg[0], newFfmpeg[0]);

        // The camera's state machine saw the exit and came back to streaming.
        using var camera = await sut.GetJsonAsync("api/v1/cameras/cam");
        var reasons = camera.RootElement.GetProperty("transitions").EnumerateArray().Select(t => t.GetProperty("reason").GetString()).ToList();
        Assert.Contains("ffmpeg_exited", reasons);
        await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(HealthLine("camera:cam", "healthy", 1), StringComparison.Ordinal),
            Recovery,
            "camera:cam healthy again in /metrics");
        using var health = await sut.GetJsonAsync("health");
        Assert.Equal("healthy", health.RootElement.GetProperty("checks").GetProperty("camera:cam").GetString());
        Assert.Equal("healthy", health.RootElement.GetProperty("checks").GetProperty("loop:camera:cam").GetString());
    }

    [Fact]
    public async Task Run_ProcessorHangs_WatchdogRestartsConsumerHungFrameDroppedStalledFramesFlowAgain()
    {
        RequiredTool.Find("ffmpeg");
        await using var sut = DetektorProcess.Start(
            "processor-hangs",
            ["--camera", "cam=testsrc2://"],
            new Dictionary<string, string>
            {
                ["Detektor__Processing__TestHooks__HangOnFrame"] = "20",
                ["Detektor__Processing__Concurrency"] = "1",
                ["Detektor__Supervisor__StallTimeout"] = "00:00:03",
            });
        await sut.WaitReadyAsync();
        Assert.Contains(LoopStateLine("process:consumer-0", "running", 1), await sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken), StringComparison.Ordinal);

        var metrics = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => Sum(m, "detektor_supervisor_restarts_total", "loop=\"process:consumer-0\"", "reason=\"stalled\"") >= 1
                 && Sum(m, "detektor_frames_dropped_total", "pipeline_reason=\"stalled\"") >= 1,
            TimeSpan.FromSeconds(90),
            "the consumer restarted as stalled and the hung frame dropped (stalled)");
        Assert.Equal(1, Sum(metrics, "detektor_supervisor_restarts_total", "reason=\"stalled\""));
        Assert.Equal(0, Sum(metrics, "detektor_supervisor_restarts_total", "reason=\"fault\""));
        Assert.Equal(1, Sum(metrics, "detektor_frames_dropped_total", "pipeline_reason=\"stalled\""));

        // Frames flow again through the restarted consumer, and its loop is healthy (health and metric).
        var stored = Sum(metrics, "detektor_frames_stored_total");
        await Eventually.WaitAsync(
            async () => Sum(await sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken), "detektor_frames_stored_total"),
            p => p > stored + 10,
            Recovery,
            "frames processed after the restart");
        var healthy = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(HealthLine("loop:process:consumer-0", "healthy", 1), StringComparison.Ordinal)
                 && m.Contains(LoopStateLine("process:consumer-0", "running", 1), StringComparison.Ordinal),
            Recovery,
            "loop:process:consumer-0 healthy and running");
        Assert.Equal(1, Sum(healthy, "detektor_supervisor_restarts_total", "reason=\"stalled\""));
        using var health = await sut.GetJsonAsync("health");
        Assert.Equal("healthy", health.RootElement.GetProperty("checks").GetProperty("loop:process:consumer-0").GetString());
    }

    [Fact]
    public async Task Run_PostgresStoppedAndStarted_StoreRecoversOutageCountedNothingLost()
    {
        RequiredTool.Find("ffmpeg");
        await using var server = await PostgresServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var database = await server.CreateDatabaseAsync(cancellationToken: TestContext.Current.CancellationToken);
        await using var sut = DetektorProcess.Start(
            "postgres-down",
            ["--camera", "cam=testsrc2://"],
            new Dictionary<string, string> { ["Detektor__Storage__Provider"] = "postgres", ["Detektor__Storage__PostgresConnectionString"] = database });
        await sut.WaitReadyAsync();
        var before = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => Sum(m, "detektor_frames_stored_total") > 10,
            TimeSpan.FromSeconds(90),
            "frames stored before the outage");
        Assert.Equal(0, Sum(before, "detektor_store_outages_total"));

        await server.StopAsync(TestContext.Current.CancellationToken);
        var down = await Eventually.WaitAsync(
            () => ReadyAsync(sut),
            r => r.Code == 503 && r.Body.Contains("\"database\":\"unhealthy\"", StringComparison.Ordinal),
            Recovery,
            "/ready 503 with the database unhealthy");
        Assert.Contains("\"database\":\"unhealthy\"", down.Body, StringComparison.Ordinal);
        var outage = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(HealthLine("database", "unhealthy", 1), StringComparison.Ordinal),
            Recovery,
            "database unhealthy in /metrics");
        Assert.Equal(1, Sum(outage, "detektor_store_outages_total"));

        await server.RestartAsync(TestContext.Current.CancellationToken);
        await Eventually.WaitAsync(() => ReadyAsync(sut), r => r.Code == 200, Recovery, "/ready 200 again");
        var recovered = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(HealthLine("database", "healthy", 1), StringComparison.Ordinal) && Sum(m, "detektor_store_outage_active") == 0,
            Recovery,
            "database healthy in /metrics and the outage over");
        var storedAfter = Sum(recovered, "detektor_frames_stored_total");
        await Eventually.WaitAsync(
            async () => Sum(await sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken), "detektor_frames_stored_total"),
            n => n > storedAfter + 10,
            Recovery,
            "frames stored after the outage");
        var final = await sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        Assert.Equal(1, Sum(final, "detektor_store_outages_total"));
        Assert.Contains(LoopStateLine("store:writer", "running", 1), final, StringComparison.Ordinal);

        // Nothing lost: after a graceful stop, every captured frame in the database has its terminal event.
        await sut.StopAsync();
        var captured = await ScalarAsync(database, "SELECT count(DISTINCT frame_id) FROM frame_events WHERE type = 'captured'");
        var unfinished = await ScalarAsync(
            database,
            "SELECT count(*) FROM (SELECT frame_id FROM frame_events GROUP BY frame_id HAVING bool_or(type = 'captured') AND NOT bool_or(type IN ('stored', 'dropped'))) x");
        Assert.True(captured > 20, $"{captured} frames captured");
        Assert.Equal(0, unfinished);
    }

    [Fact]
    public async Task Run_RedisKilledAndStarted_RolesRecoverAndTheOutageIsCounted()
    {
        RequiredTool.Find("ffmpeg");
        await using var redis = await RedisServer.StartAsync(appendFsync: "always");
        await using var sut = DetektorProcess.Start("redis-down", ["--redis", redis.Endpoint, "--camera", "cam=testsrc2://"]);
        await sut.WaitReadyAsync();
        await Eventually.WaitAsync(
            async () => Sum(await sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken), "detektor_frames_stored_total"),
            n => n > 10,
            TimeSpan.FromSeconds(90),
            "frames stored before the outage");

        await redis.KillAsync();
        await Eventually.WaitAsync(
            () => ReadyAsync(sut),
            r => r.Code == 503 && r.Body.Contains("\"redis\":\"unhealthy\"", StringComparison.Ordinal),
            Recovery,
            "/ready 503 with redis unhealthy");
        await redis.StartAgainAsync();
        await Eventually.WaitAsync(() => ReadyAsync(sut), r => r.Code == 200, Recovery, "/ready 200 again");
        var recovered = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => m.Contains(HealthLine("redis", "healthy", 1), StringComparison.Ordinal),
            Recovery,
            "redis healthy in /metrics");
        var storedAfter = Sum(recovered, "detektor_frames_stored_total");
        var final = await Eventually.WaitAsync(
            () => sut.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken),
            m => Sum(m, "detektor_frames_stored_total") > storedAfter + 10,
            Recovery,
            "frames stored after the outage");

        // The outage is counted (failed transport calls, retried); every loop is running, none failed.
        Assert.True(Sum(final, "detektor_bus_transport_errors_total") > 0, "transport errors counted");
        Assert.Equal(0, Sum(final, "detektor_supervisor_loop_state", "state=\"failed\""));
        foreach (var loop in new[] { "camera:cam", "process:consumer-0", "store:writer" })
        {
            Assert.Contains(LoopStateLine(loop, "running", 1), final, StringComparison.Ordinal);
        }
    }

    private static async Task<(int Code, string Body)> ReadyAsync(DetektorProcess sut)
    {
        try
        {
            using var response = await sut.Http.GetAsync("ready", TestContext.Current.CancellationToken);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }
        catch (HttpRequestException)
        {
            return (0, string.Empty);
        }
    }

    private static async Task<long> ScalarAsync(string database, string sql) =>
        Convert.ToInt64(await PostgresServer.ScalarAsync(database, sql, TestContext.Current.CancellationToken), CultureInfo.InvariantCulture);

    private static string HealthLine(string check, string status, int value) =>
        $"check=\"{check}\",health_status=\"{status}\"}} {value}";

    private static string LoopStateLine(string loop, string state, int value) =>
        $"loop=\"{loop}\",state=\"{state}\"}} {value}";

    private static double Sum(string metrics, string name, params string[] labels) => PrometheusText.Sum(metrics, name, labels);

    /// <summary>Ids of the direct children of <paramref name="parent"/> whose command name is <paramref name="command"/>.</summary>
    private static List<int> ChildProcesses(int parent, string command)
    {
        var children = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var open = stat.IndexOf('(', StringComparison.Ordinal);
                var close = stat.LastIndexOf(')');
                var comm = stat[(open + 1)..close];
                var ppid = int.Parse(stat[(close + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                if (ppid == parent && comm == command)
                {
                    children.Add(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while we looked.
            }
        }

        return children;
    }
}
