using Detektor.Testing;

namespace Detektor.Tests.Distributed;

/// <summary>Every health check is also a metric: a real <c>detektor run</c> with one camera that streams and one that cannot connect.</summary>
public sealed class HealthMetricsTests
{
    [Fact]
    public async Task Metrics_CameraThatCannotConnect_HealthCheckStatusUnhealthyWhileTheOtherChecksAreHealthy()
    {
        RequiredTool.Find("ffmpeg");
        var closed = FreePort.Next();
        await using var sut = DetektorProcess.Start("health-metrics", ["--camera", "up=testsrc2://", "--camera", $"down=rtsp://127.0.0.1:{closed}/stream"]);
        await sut.WaitReadyAsync();

        var metrics = await Eventually.WaitAsync(
            async () => await sut.Http.GetStringAsync("metrics"),
            m => m.Contains(Line("camera:down", "unhealthy", 1), StringComparison.Ordinal) && m.Contains(Line("camera:up", "healthy", 1), StringComparison.Ordinal),
            TimeSpan.FromSeconds(90),
            "camera:down unhealthy and camera:up healthy in /metrics");

        Assert.Contains(Line("camera:down", "healthy", 0), metrics, StringComparison.Ordinal);
        Assert.Contains(Line("self", "healthy", 1), metrics, StringComparison.Ordinal);
        Assert.Contains(Line("database", "healthy", 1), metrics, StringComparison.Ordinal);
    }

    private static string Line(string check, string status, int value) =>
        $"check=\"{check}\",health_status=\"{status}\"}} {value}";
}
