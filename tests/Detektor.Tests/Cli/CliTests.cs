using System.Globalization;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Tests.Cli;

public class CliTests
{
    [Fact]
    public async Task Help_ListsEveryCommand()
    {
        var (code, output, _) = await DetektorProcess.RunAsync("--help");
        var (runCode, runHelp, _) = await DetektorProcess.RunAsync("run", "--help");

        Assert.Equal(0, code);
        foreach (var command in new[] { "run", "frames", "health", "models", "db" })
        {
            Assert.Contains(command, output, StringComparison.Ordinal);
        }

        Assert.Equal(0, runCode);
        foreach (var option in new[] { "--urls", "--data-dir", "--roles", "--camera", "--config", "--set" })
        {
            Assert.Contains(option, runHelp, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Detektor:Bus:FramesCapacity=0", "Detektor:Bus:FramesCapacity: 0 is out of range; allowed 1 to 100000.")]
    [InlineData("Detektor:Processing:Concurrency=999", "Detektor:Processing:Concurrency: 999 is out of range; allowed 1 to 256.")]
    [InlineData("Detektor:Bus:FramesCapacity=lots", "Detektor:Bus:FramesCapacity")]
    [InlineData("Detektor:Hosting:TraceSampleRatio=2", "Detektor:Hosting:TraceSampleRatio: 2 is out of range; allowed 0 to 1.")]
    public async Task Run_BadConfiguration_ExitsWith2AndOneLineNamingTheKey(string setting, string expected)
    {
        using var dir = new TempDirectory();

        var (code, _, err) = await DetektorProcess.RunAsync(
            "run", "--data-dir", dir.Path, "--urls", $"http://127.0.0.1:{FreePort.Next()}", "--set", "Detektor:Capture:DemoUrl=", "--set", setting);

        Assert.Equal(2, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("detektor:", StringComparison.Ordinal));
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "--camera", "front" }, "--camera: expected NAME=URL")]
    [InlineData(new[] { "--roles", "capture,painting" }, "--roles: 'painting' is not a role")]
    [InlineData(new[] { "--set", "novalue" }, "--set: expected KEY=VALUE")]
    public async Task Run_BadOption_ExitsWith2AndSaysWhy(string[] args, string expected)
    {
        var (code, _, err) = await DetektorProcess.RunAsync(["run", .. args]);

        Assert.Equal(2, code);
        Assert.Contains(expected, err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_NothingListening_ExitsWith2()
    {
        var (code, _, err) = await DetektorProcess.RunAsync("health", "--server", $"http://127.0.0.1:{FreePort.Next()}");

        Assert.Equal(2, code);
        Assert.Contains("cannot check", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_NoConfiguration_ServesHealthMetricsFramesAndJourneys()
    {
        RequiredTool.Find("ffmpeg");
        using var dir = new TempDirectory();
        var url = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}");
        await using var detektor = DetektorProcess.Start("run", "--data-dir", dir.Path, "--urls", url);
        using var http = new HttpClient { BaseAddress = new Uri(url + "/") };

        // The demo camera (a test pattern when no footage is configured) produces frames that reach the store.
        var listed = await Eventually.WaitAsync(
            async () =>
            {
                try
                {
                    using var doc = JsonDocument.Parse(await http.GetStringAsync("api/v1/frames?limit=5", TestContext.Current.CancellationToken));
                    return doc.RootElement.GetProperty("items").EnumerateArray().Where(i => i.GetProperty("state").GetString() == "stored")
                        .Select(i => i.GetProperty("frame_id").GetString()!).ToList();
                }
                catch (HttpRequestException)
                {
                    return [];
                }
            },
            ids => ids.Count > 0,
            TimeSpan.FromSeconds(60),
            "stored frames from `detektor run`" + Environment.NewLine + detektor.StdErr);

        var (healthCode, healthOut, _) = await DetektorProcess.RunAsync("health", "--server", url);
        var (getCode, journey, _) = await DetektorProcess.RunAsync("frames", "get", listed[0], "--server", url);
        var (listCode, list, _) = await DetektorProcess.RunAsync("frames", "list", "--limit", "3", "--server", url);
        var metrics = await http.GetStringAsync("metrics", TestContext.Current.CancellationToken);
        var exit = await detektor.StopAsync();

        Assert.Equal(0, healthCode);
        Assert.Contains("detektor", healthOut, StringComparison.Ordinal);
        Assert.Contains("camera:demo", healthOut, StringComparison.Ordinal);
        Assert.Equal(0, getCode);
        using (var doc = JsonDocument.Parse(journey))
        {
            Assert.Equal(listed[0], doc.RootElement.GetProperty("frame_id").GetString());
            Assert.Equal("stored", doc.RootElement.GetProperty("state").GetString());
            var traceId = doc.RootElement.GetProperty("trace_id").GetString();
            Assert.All(doc.RootElement.GetProperty("events").EnumerateArray(), e => Assert.Equal(traceId, e.GetProperty("trace_id").GetString()));
        }

        Assert.Equal(0, listCode);
        using (var doc = JsonDocument.Parse(list))
        {
            var items = doc.RootElement.GetProperty("items").EnumerateArray().ToList();
            Assert.Equal(3, items.Count);
            Assert.All(items, i => Assert.Equal("demo", i.GetProperty("camera_id").GetString()));
        }

        Assert.Matches(@"detektor_frames_captured_total\{[^}]*camera_id=""demo""[^}]*\} [1-9]", metrics);
        Assert.Equal(0, exit);
        Assert.Contains("Detektor is running at", detektor.StdOut, StringComparison.Ordinal);
    }
}
