using Detektor.Capture.Cameras;
using Detektor.Capture.Motion;
using Detektor.Composition;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Detektor.Capture.Tests.Configuration;

public sealed class CaptureOptionsValidatorTests
{
    private static CameraOptions Camera(string name = "front", string url = "testsrc2://") => new() { Name = name, Url = url };

    private static IReadOnlyList<string> Validate(CaptureOptions options)
    {
        RequiredTool.Find("ffmpeg");
        var result = new CaptureOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures!] : [];
    }

    private static IReadOnlyList<string> Validate(CameraOptions camera) => Validate(new CaptureOptions { Cameras = [camera] });

    [Fact]
    public void Validate_GoodCameras_Succeeds() =>
        Assert.Empty(Validate(new CaptureOptions { Cameras = [Camera("a", "rtsp://u:p@10.0.0.5/s"), Camera("b", "https://cam/x.m3u8"), Camera("c")] }));

    [Fact]
    public void Validate_DuplicateNameAcrossConfigAndCommandLine_NamesBothKeys()
    {
        var sut = Validate(new CaptureOptions { Cameras = [Camera("Gate")], CommandLineCameras = [Camera("gate")] });

        Assert.Equal(["--camera #1:Name: 'gate' is already the name of Detektor:Cameras:0; camera names must be unique (case does not count)."], sut);
    }

    [Theory]
    [InlineData("", "Detektor:Cameras:0:Name: is required; use 1-64 characters of letters, digits, '_' or '-', starting with a letter or digit.")]
    [InlineData("front door", "Detektor:Cameras:0:Name: 'front door' is not allowed; use 1-64 characters of letters, digits, '_' or '-', starting with a letter or digit.")]
    [InlineData("-x", "Detektor:Cameras:0:Name: '-x' is not allowed; use 1-64 characters of letters, digits, '_' or '-', starting with a letter or digit.")]
    public void Validate_BadName_OneLineNamingTheKey(string name, string expected) => Assert.Equal([expected], Validate(Camera(name)));

    [Theory]
    [InlineData("rtmp://u:hunter2@cam/live", "Detektor:Cameras:0:Url: 'rtmp://u:***@cam/live' is not a supported camera URL; use ")]
    [InlineData("http://cam/v.mjpg?token=hunter2 x", "Detektor:Cameras:0:Url: 'http://cam/v.mjpg?token=*** x' is not a supported camera URL; use ")]
    [InlineData("relative/clip.mp4", "Detektor:Cameras:0:Url: 'relative/clip.mp4' is not a supported camera URL; use ")]
    [InlineData("", "Detektor:Cameras:0:Url: is required; use ")]
    public void Validate_BadUrl_MaskedAndNamingTheKey(string url, string expectedStart)
    {
        var sut = Assert.Single(Validate(Camera(url: url)));

        Assert.StartsWith(expectedStart, sut, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", sut, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MissingFile_ErrorButNotWhenDisabled()
    {
        Assert.Equal(["Detektor:Cameras:0:Url: the file '/no/clip.mp4' does not exist; use an existing video file."], Validate(Camera(url: "file:///no/clip.mp4")));
        Assert.Empty(Validate(new CameraOptions { Name = "x", Url = "/no/clip.mp4", Enabled = false }));
    }

    [Theory]
    [InlineData(31, 480, 5, "tcp", "Detektor:Cameras:0:Width: 31 is out of range; allowed even numbers from 32 to 7680.")]
    [InlineData(7682, 480, 5, "tcp", "Detektor:Cameras:0:Width: 7682 is out of range; allowed even numbers from 32 to 7680.")]
    [InlineData(640, 481, 5, "tcp", "Detektor:Cameras:0:Height: 481 is out of range; allowed even numbers from 32 to 4320.")]
    [InlineData(640, 4322, 5, "tcp", "Detektor:Cameras:0:Height: 4322 is out of range; allowed even numbers from 32 to 4320.")]
    [InlineData(640, 480, 0.05, "tcp", "Detektor:Cameras:0:Fps: 0.05 is out of range; allowed 0.1 to 120.")]
    [InlineData(640, 480, 121, "tcp", "Detektor:Cameras:0:Fps: 121 is out of range; allowed 0.1 to 120.")]
    [InlineData(640, 480, double.NaN, "tcp", "Detektor:Cameras:0:Fps: NaN is out of range; allowed 0.1 to 120.")]
    [InlineData(640, 480, 5, "TCP", "Detektor:Cameras:0:Transport: 'TCP' is not allowed; use tcp or udp.")]
    public void Validate_OutOfRange_OneLineNamingKeyAndAllowedValues(int width, int height, double fps, string transport, string expected) =>
        Assert.Equal([expected], Validate(new CameraOptions { Name = "c", Url = "testsrc2://", Width = width, Height = height, Fps = fps, Transport = transport }));

    [Fact]
    public void Validate_InputArgs_EmptyItemOrSecondInputRejected()
    {
        var sut = Validate(new CameraOptions { Name = "c", Url = "rtsp://cam/s", InputArgs = ["-hwaccel", "", "-i"] });

        Assert.Equal(2, sut.Count);
        Assert.StartsWith("Detektor:Cameras:0:InputArgs:1: is empty;", sut[0], StringComparison.Ordinal);
        Assert.StartsWith("Detektor:Cameras:0:InputArgs:2: '-i' is not allowed here;", sut[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_CaptureAndMotionRanges_EachNamed()
    {
        var sut = Validate(new CaptureOptions
        {
            Cameras = [Camera()],
            StallTimeoutSeconds = 0.5,
            ConnectTimeoutSeconds = 601,
            Motion = new MotionOptions { AnalysisWidth = 8, PixelThreshold = 0, BackgroundRate = 2, ScoreThreshold = -0.1, MinBoxArea = 1.5, MaxBoxes = 0 },
        });

        Assert.Equal(
            [
                "Detektor:Capture:StallTimeoutSeconds: 0.5 is out of range; allowed 1 to 600.",
                "Detektor:Capture:ConnectTimeoutSeconds: 601 is out of range; allowed 1 to 600.",
                "Detektor:Capture:Motion:AnalysisWidth: 8 is out of range; allowed 16 to 640.",
                "Detektor:Capture:Motion:PixelThreshold: 0 is out of range; allowed 1 to 255.",
                "Detektor:Capture:Motion:BackgroundRate: 2 is out of range; allowed 0.001 to 1.",
                "Detektor:Capture:Motion:ScoreThreshold: -0.1 is out of range; allowed 0 to 1.",
                "Detektor:Capture:Motion:MinBoxArea: 1.5 is out of range; allowed 0 to 1.",
                "Detektor:Capture:Motion:MaxBoxes: 0 is out of range; allowed 1 to 256.",
            ],
            sut);
    }

    [Theory]
    [InlineData("bgr24")]
    [InlineData("RGB24")]
    [InlineData("")]
    public void Validate_UnsupportedPixelFormat_OneLineNamingTheKey(string format) =>
        Assert.Equal(
            [$"Detektor:Capture:PixelFormat: '{format}' is not allowed; use yuv420p or rgb24."],
            Validate(new CaptureOptions { PixelFormat = format, DemoCamera = false }));

    [Fact]
    public void Defaults_PixelFormatIsYuv420p() => Assert.Equal("yuv420p", new CaptureOptions().PixelFormat);

    [Fact]
    public void Validate_UnsupportedDemoUrl_Named() =>
        Assert.StartsWith(
            "Detektor:Capture:DemoUrl: 'gopher://x' is not a supported URL;",
            Assert.Single(Validate(new CaptureOptions { DemoUrl = "gopher://x" })),
            StringComparison.Ordinal);

    [Fact]
    public void Validate_FfmpegMissing_OnlyWhenACameraRuns()
    {
        Assert.StartsWith(
            "Detektor:Capture:FfmpegPath: ffmpeg was not found at '/opt/none/ffmpeg'",
            Assert.Single(Validate(new CaptureOptions { FfmpegPath = "/opt/none/ffmpeg", Cameras = [Camera()] })),
            StringComparison.Ordinal);
        Assert.Empty(Validate(new CaptureOptions { FfmpegPath = "/opt/none/ffmpeg", DemoCamera = false }));
        Assert.Empty(Validate(new CaptureOptions { FfmpegPath = "/opt/none/ffmpeg", Cameras = [new CameraOptions { Name = "off", Url = "testsrc2://", Enabled = false }] }));
    }

    [Fact]
    public void Validate_ManyProblems_OneLineEach()
    {
        var sut = Validate(new CaptureOptions { Cameras = [new CameraOptions { Name = "bad name", Url = "nope", Width = 1, Fps = 0 }] });

        Assert.Equal(4, sut.Count);
        Assert.All(sut, line => Assert.DoesNotContain('\n', line));
        Assert.All(sut, line => Assert.StartsWith("Detektor:Cameras:0:", line, StringComparison.Ordinal));
    }

    [Fact]
    public void Bind_UnknownKeysAndWrongTypes_ReportedWithFullKeys()
    {
        var sut = BindFrom(new Dictionary<string, string?>
        {
            ["Detektor:Cameras:0:Name"] = "a",
            ["Detektor:Cameras:0:Url"] = "testsrc2://",
            ["Detektor:Cameras:0:Fsp"] = "5",
            ["Detektor:Cameras:1:Name"] = "b",
            ["Detektor:Cameras:1:Url"] = "testsrc2://",
            ["Detektor:Cameras:1:Loop"] = "sometimes",
            ["Detektor:Capture:StallTimeout"] = "3",
            ["Detektor:Capture:Motion:Treshold"] = "3",
        });

        var ex = Assert.Throws<OptionsValidationException>(() => sut.Value);

        Assert.Equal(
            [
                "Detektor:Cameras:1:Loop: 'sometimes' is not true or false.",
                "Detektor:Capture:Motion:Treshold: unknown key; allowed: Enabled, AnalysisWidth, PixelThreshold, BackgroundRate, ScoreThreshold, MinBoxArea, MaxBoxes.",
                "Detektor:Capture:StallTimeout: unknown key; allowed: FfmpegPath, StallTimeoutSeconds, ConnectTimeoutSeconds, DemoCamera, DemoUrl, PixelFormat, Motion.",
                "Detektor:Cameras:0:Fsp: unknown key; allowed: Name, Url, Enabled, Width, Height, Fps, Transport, Loop, InputArgs.",
            ],
            ex.Failures);
    }

    [Fact]
    public void Bind_YamlFile_CamerasWithAllKeys()
    {
        using var dir = new TempDirectory();
        var yaml = dir.Combine("cameras.yml");
        File.WriteAllText(yaml, """
            Detektor:
              Capture:
                StallTimeoutSeconds: 4
                Motion:
                  PixelThreshold: 30
              Cameras:
                - Name: front
                  Url: rtsp://viewer:secret@10.0.0.5:554/stream1
                  Transport: udp
                  Width: 1280
                  Height: 720
                  Fps: 2.5
                  InputArgs: [-hwaccel, vaapi]
                - Name: clip
                  Url: testsrc://
                  Enabled: false
                  Loop: false
            """);

        var sut = BindFrom(new Dictionary<string, string?>(), yaml).Value;

        Assert.Equal(4, sut.StallTimeoutSeconds);
        Assert.Equal(30, sut.Motion.PixelThreshold);
        Assert.Equal(2, sut.Cameras.Count);
        var front = sut.Cameras[0];
        Assert.Equal(("front", "udp", 1280, 720, 2.5), (front.Name, front.Transport, front.Width, front.Height, front.Fps));
        Assert.Equal(["-hwaccel", "vaapi"], front.InputArgs);
        Assert.False(sut.Cameras[1].Enabled);
        Assert.False(sut.Cameras[1].Loop);
    }

    [Fact]
    public void Bind_JsonFileThenCommandLine_BothListsKept()
    {
        using var dir = new TempDirectory();
        var json = dir.Combine("cameras.json");
        File.WriteAllText(json, """{ "Detektor": { "Cameras": [ { "Name": "porch", "Url": "testsrc2://", "Fps": 1 } ] } }""");

        var sut = BindFrom(new Dictionary<string, string?>
        {
            [CaptureServiceCollectionExtensions.CommandLineCamerasSection + ":0:Name"] = "cli",
            [CaptureServiceCollectionExtensions.CommandLineCamerasSection + ":0:Url"] = "testsrc://",
        }, json).Value;

        Assert.Equal(["porch"], sut.Cameras.Select(c => c.Name));
        Assert.Equal(1, sut.Cameras[0].Fps);
        Assert.Equal(["cli"], sut.CommandLineCameras.Select(c => c.Name));
    }

    private static IOptions<CaptureOptions> BindFrom(Dictionary<string, string?> settings, string? file = null)
    {
        RequiredTool.Find("ffmpeg");
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (file is not null)
        {
            DetektorApp.AddConfigFile(builder.Configuration, file);
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.AddCameraConfiguration();
        return builder.Build().Services.GetRequiredService<IOptions<CaptureOptions>>();
    }
}
