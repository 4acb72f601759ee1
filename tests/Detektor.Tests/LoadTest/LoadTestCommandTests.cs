using System.Text.Json;
using Detektor.Testing;
using Detektor.Tests.Cli;

namespace Detektor.Tests.LoadTest;

/// <summary>
/// <c>detektor loadtest</c> as a user runs it: the CLI in a child process, which runs the pipeline as its own
/// <c>detektor run</c> child. The short run is CI's regression gate on correctness, never on timing.
/// </summary>
public class LoadTestCommandTests
{
    [Theory]
    [InlineData(new[] { "--cameras", "0" }, "--cameras: 0 is out of range; allowed 1 to 64.")]
    [InlineData(new[] { "--fps", "500" }, "--fps: 500 is out of range")]
    [InlineData(new[] { "--duration", "soon" }, "--duration: 'soon' is not a duration")]
    [InlineData(new[] { "--warmup", "3d" }, "--warmup: '3d' is not a duration")]
    [InlineData(new[] { "--size", "641x360" }, "--size: '641x360' is not WIDTHxHEIGHT")]
    [InlineData(new[] { "--source", "webcam" }, "--source: 'webcam' is not allowed; allowed: testsrc, footage.")]
    [InlineData(new[] { "--mode", "distributed" }, "--redis: --mode distributed needs Redis")]
    [InlineData(new[] { "--mode", "cluster" }, "--mode: 'cluster' is not allowed; allowed: all-in-one, distributed.")]
    [InlineData(new[] { "--detect", "maybe" }, "--detect: 'maybe' is not allowed; allowed: on, off.")]
    [InlineData(new[] { "--min-trace-completeness", "99" }, "--min-trace-completeness: '99' is not allowed; allowed a share from 0 to 1, or off.")]
    [InlineData(new[] { "--max-p95-ms", "fast" }, "--max-p95-ms: 'fast' is not allowed")]
    [InlineData(new[] { "--footage", "/nonexistent/video.mp4", "--source", "footage" }, "--footage: the file '/nonexistent/video.mp4' does not exist.")]
    public async Task LoadTest_BadOption_ExitsWith2NamingTheOption(string[] args, string expected)
    {
        var (code, output, err) = await DetektorProcess.RunAsync(["loadtest", .. args]);

        Assert.Equal(2, code);
        Assert.Empty(output);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LoadTest_TwoCamerasTwentySeconds_NothingLostEveryLifecycleCompleteNoOrphanSpans()
    {
        RequiredTool.Find("ffmpeg");

        var (code, output, err) = await DetektorProcess.RunAsync(
            TimeSpan.FromMinutes(5),
            "loadtest", "--cameras", "2", "--fps", "10", "--duration", "20s", "--warmup", "3s", "--source", "testsrc", "--detect", "off", "--json");

        Assert.True(code == 0, $"exit {code}{Environment.NewLine}{output}{Environment.NewLine}{err}");
        Assert.Empty(err); // no progress line with --json
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal("detektor.loadtest/1", root.GetProperty("schema").GetString());
        Assert.True(root.GetProperty("passed").GetBoolean());
        Assert.Equal("all-in-one", root.GetProperty("run").GetProperty("mode").GetString());
        var frames = root.GetProperty("frames");
        var captured = frames.GetProperty("captured").GetInt64();
        Assert.True(captured > 0, output);
        Assert.Equal(0, frames.GetProperty("lost").GetInt64());
        Assert.Equal(1.0, frames.GetProperty("lifecycle_completeness").GetDouble());
        Assert.Equal(
            captured,
            frames.GetProperty("processed").GetInt64() + frames.GetProperty("failed").GetInt64() + frames.GetProperty("skipped").GetInt64() +
            frames.GetProperty("dropped").GetInt64() + frames.GetProperty("lost").GetInt64());
        var traces = root.GetProperty("traces");
        Assert.Equal(0, traces.GetProperty("orphan_spans").GetInt64());
        Assert.True(traces.GetProperty("sampled_frames").GetInt64() > 0, output);
        var latency = root.GetProperty("latency");
        Assert.True(latency.GetProperty("capture_to_stored").GetProperty("count").GetInt64() > 0, output);
        var stages = latency.GetProperty("stages").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("capture", stages);
        Assert.Contains("queue", stages);
        Assert.Contains("store", stages);
        Assert.All(latency.GetProperty("stages").EnumerateObject(), s => Assert.True(s.Value.GetProperty("count").GetInt64() > 0));
        var process = Assert.Single(root.GetProperty("processes").EnumerateArray());
        Assert.Equal("detektor", process.GetProperty("name").GetString());
        Assert.True(process.GetProperty("cpu_seconds").GetDouble() > 0);
        Assert.True(process.GetProperty("peak_rss_mb").GetDouble() > 0);
        // RSS is split: anonymous (heaps) plus file-backed memory is at most the whole RSS at the end.
        var anonymous = process.GetProperty("anonymous_end_mb").GetDouble();
        var fileBacked = process.GetProperty("file_backed_end_mb").GetDouble();
        Assert.True(anonymous > 0 && fileBacked > 0, process.ToString());
        Assert.True(anonymous + fileBacked <= process.GetProperty("rss_end_mb").GetDouble() + 0.2, process.ToString());
        Assert.Equal(0, process.GetProperty("restarts").GetInt32());
        Assert.All(root.GetProperty("gates").EnumerateArray(), g => Assert.True(g.GetProperty("passed").GetBoolean(), g.ToString()));
    }
}
