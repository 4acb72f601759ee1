using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Cli;

/// <summary>
/// <c>detektor run</c> as a user runs it: bad camera configuration stops it with exit code 2 and one line per problem on
/// stderr naming the key; good configuration from the command line, YAML, JSON or the environment runs the cameras.
/// </summary>
public sealed class RunCommandTests
{
    private static async Task<List<JsonElement>> WaitUntilAllHaveFramesAsync(DetektorProcess sut)
    {
        var list = await Eventually.WaitAsync(
            async () => await sut.GetJsonAsync("/api/v1/cameras"),
            json => json.GetProperty("items").EnumerateArray().All(c => c.GetProperty("frames_captured").GetInt64() > 0),
            TimeSpan.FromSeconds(60),
            "every camera streaming");
        return [.. list.GetProperty("items").EnumerateArray()];
    }

    private static string[] ConfigErrors(DetektorProcess p) =>
        [.. p.StderrLines.Where(l => l.StartsWith("detektor: configuration error: ", StringComparison.Ordinal)).Select(l => l["detektor: configuration error: ".Length..])];

    [Fact]
    public async Task Run_DuplicateCameraNamesInYaml_ExitCode2NamingTheKey()
    {
        using var dir = new TempDirectory();
        var yaml = dir.Combine("cameras.yaml");
        await File.WriteAllTextAsync(yaml, """
            Detektor:
              Cameras:
                - Name: front
                  Url: testsrc2://
                - Name: Front
                  Url: testsrc://
            """, TestContext.Current.CancellationToken);

        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--config", yaml]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        var error = Assert.Single(ConfigErrors(sut));
        Assert.Equal("Detektor:Cameras:1:Name: 'Front' is already the name of Detektor:Cameras:0; camera names must be unique (case does not count).", error);
    }

    [Fact]
    public async Task Run_BadUrlOnCommandLine_ExitCode2WithPasswordMasked()
    {
        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--camera", "gate=ftp://admin:Sup3rSecret@10.0.0.9/cam"]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        var error = Assert.Single(ConfigErrors(sut));
        Assert.StartsWith("--camera #1:Url: 'ftp://admin:***@10.0.0.9/cam' is not a supported camera URL; use rtsp://", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Sup3rSecret", sut.Stderr + sut.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_MissingFfmpeg_ExitCode2SayingHowToFixIt()
    {
        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--camera", "a=testsrc2://", "--set", "Detektor:Capture:FfmpegPath=/nonexistent/bin/ffmpeg"]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        var error = Assert.Single(ConfigErrors(sut));
        Assert.StartsWith("Detektor:Capture:FfmpegPath: ffmpeg was not found at '/nonexistent/bin/ffmpeg'", error, StringComparison.Ordinal);
        Assert.Contains("apt-get install ffmpeg", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_OutOfRangeValuesFromEnvironment_ExitCode2OneLineEach()
    {
        var env = new Dictionary<string, string>
        {
            ["Detektor__Cameras__0__Name"] = "yard",
            ["Detektor__Cameras__0__Url"] = "testsrc2://",
            ["Detektor__Cameras__0__Fps"] = "500",
            ["Detektor__Cameras__0__Width"] = "641",
            ["Detektor__Cameras__0__Transport"] = "sctp",
            ["Detektor__Capture__StallTimeoutSeconds"] = "0",
            ["Detektor__Capture__Motion__PixelThreshold"] = "300",
        };

        var (exitCode, sut) = await DetektorProcess.RunToExitAsync([], env);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        Assert.Equal(
            [
                "Detektor:Cameras:0:Width: 641 is out of range; allowed even numbers from 32 to 7680.",
                "Detektor:Cameras:0:Fps: 500 is out of range; allowed 0.1 to 120.",
                "Detektor:Cameras:0:Transport: 'sctp' is not allowed; use tcp or udp.",
                "Detektor:Capture:StallTimeoutSeconds: 0 is out of range; allowed 1 to 600.",
                "Detektor:Capture:Motion:PixelThreshold: 300 is out of range; allowed 1 to 255.",
            ],
            ConfigErrors(sut));
    }

    [Fact]
    public async Task Run_TypoInJsonKey_ExitCode2ListingAllowedKeys()
    {
        using var dir = new TempDirectory();
        var json = dir.Combine("cameras.json");
        await File.WriteAllTextAsync(json, """{ "Detektor": { "Cameras": [ { "Name": "porch", "Url": "testsrc2://", "Widht": 320 } ] } }""", TestContext.Current.CancellationToken);

        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--config", json]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        var error = Assert.Single(ConfigErrors(sut));
        Assert.Equal("Detektor:Cameras:0:Widht: unknown key; allowed: Name, Url, Enabled, Width, Height, Fps, Transport, Loop, InputArgs.", error);
    }

    [Fact]
    public async Task Run_NonNumericWidth_ExitCode2NamingTheKey()
    {
        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(
            ["--set", "Detektor:Cameras:0:Name=a", "--set", "Detektor:Cameras:0:Url=testsrc2://", "--set", "Detektor:Cameras:0:Width=wide"]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        Assert.Equal("Detektor:Cameras:0:Width: 'wide' is not a whole number.", Assert.Single(ConfigErrors(sut)));
    }

    [Fact]
    public async Task Run_MissingFileCamera_ExitCode2()
    {
        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--camera", "clip=/no/such/clip.mp4"]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        Assert.Equal("--camera #1:Url: the file '/no/such/clip.mp4' does not exist; use an existing video file.", Assert.Single(ConfigErrors(sut)));
    }

    [Theory]
    [InlineData("front", "--camera: expected NAME=URL")]
    [InlineData("=rtsp://x/y", "--camera: expected NAME=URL")]
    public async Task Run_MalformedCameraOption_ExitCode2(string value, string expected)
    {
        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--camera", value]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        Assert.Contains(expected, sut.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ConfigFileOfUnknownKind_ExitCode2()
    {
        using var dir = new TempDirectory();
        var ini = dir.Combine("cameras.ini");
        await File.WriteAllTextAsync(ini, "[cameras]", TestContext.Current.CancellationToken);

        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--config", ini]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        Assert.Contains("use a .json, .yaml or .yml file", sut.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_BrokenYaml_ExitCode2()
    {
        using var dir = new TempDirectory();
        var yaml = dir.Combine("cameras.yml");
        await File.WriteAllTextAsync(yaml, "Detektor:\n  Cameras:\n    - Name: [unclosed\n", TestContext.Current.CancellationToken);

        var (exitCode, sut) = await DetektorProcess.RunToExitAsync(["--config", yaml]);
        await using var _ = sut;

        Assert.Equal(2, exitCode);
        Assert.Contains("cameras.yml", sut.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_CamerasOnCommandLine_BothStream()
    {
        await using var sut = DetektorProcess.Start(["--camera", "front=testsrc2://", "--camera", "back=smptebars://"]);
        await sut.WaitUntilRunningAsync();

        var cameras = await WaitUntilAllHaveFramesAsync(sut);

        var names = cameras.Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Equal(["front", "back"], names);
    }

    [Fact]
    public async Task Run_CamerasFromYamlAndEnvironment_AllRun()
    {
        using var dir = new TempDirectory();
        var yaml = dir.Combine("cameras.yaml");
        await File.WriteAllTextAsync(yaml, """
            Detektor:
              Capture:
                StallTimeoutSeconds: 5
              Cameras:
                - Name: yaml-cam
                  Url: testsrc://
                  Width: 320
                  Height: 240
                  Fps: 4
                  InputArgs: ["-thread_queue_size", "64"]
            """, TestContext.Current.CancellationToken);
        var env = new Dictionary<string, string> { ["Detektor__Cameras__1__Name"] = "env-cam", ["Detektor__Cameras__1__Url"] = "testsrc2://" };

        await using var sut = DetektorProcess.Start(["--config", yaml], env);
        await sut.WaitUntilRunningAsync();
        var items = await WaitUntilAllHaveFramesAsync(sut);

        Assert.Equal(["yaml-cam", "env-cam"], items.Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(320, items[0].GetProperty("width").GetInt32());
        Assert.Equal(4, items[0].GetProperty("configured_fps").GetDouble());
        Assert.Equal(640, items[1].GetProperty("width").GetInt32());
    }

    [Fact]
    public async Task Run_NoCameraNoFootage_DemoPlaysTestPatternAndSaysHowToGetFootage()
    {
        using var empty = new TempDirectory();
        await using var sut = DetektorProcess.Start(
            ["--set", "Detektor:Hosting:JsonLogs=false"],
            new Dictionary<string, string> { ["DETEKTOR_FOOTAGE"] = empty.Path },
            workingDirectory: empty.Path);
        await sut.WaitUntilRunningAsync();

        var demo = await Eventually.WaitAsync(
            async () => await sut.GetJsonAsync("/api/v1/cameras/demo"),
            json => json.TryGetProperty("frames_captured", out var f) && f.GetInt64() > 0,
            TimeSpan.FromSeconds(60),
            "the demo camera streaming");

        Assert.Equal("testsrc2://", demo.GetProperty("url").GetString());
        Assert.Contains("no footage found", sut.Stdout, StringComparison.Ordinal);
        Assert.Contains("run scripts/setup.sh", sut.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_NoCameraFootageAvailable_DemoPlaysTheFootage()
    {
        var footage = Footage.Get("vtest.mp4");
        using var empty = new TempDirectory();
        await using var sut = DetektorProcess.Start([], new Dictionary<string, string> { ["DETEKTOR_FOOTAGE"] = Path.GetDirectoryName(footage)! }, workingDirectory: empty.Path);
        await sut.WaitUntilRunningAsync();

        var demo = await Eventually.WaitAsync(
            async () => await sut.GetJsonAsync("/api/v1/cameras/demo"),
            json => json.TryGetProperty("frames_captured", out var f) && f.GetInt64() > 0,
            TimeSpan.FromSeconds(60),
            "the demo camera streaming");

        Assert.Equal("file://" + footage, demo.GetProperty("url").GetString());
        Assert.Equal(JsonValueKind.Array, demo.GetProperty("transitions").ValueKind);
    }
}
