using System.Text;
using Detektor.Capture.Cameras;
using Detektor.Capture.Tests.Cli;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Capture.Tests.Security;

/// <summary>
/// Passwords and tokens planted in camera URLs, used against real servers (an RTSP server that requires them, an HTTP
/// server that records them), must not come out of any channel: logs (console JSON, structured values, OpenTelemetry log
/// records), ffmpeg's stderr, spans, metrics, API answers, health, errors.
/// </summary>
public sealed class SecretMaskingTests
{
    private const string RtspUser = "viewer";
    private const string RtspPassword = "Pl4nted-rtsp-pa55";
    private const string WrongPassword = "Pl4nted-wrong-pa55";
    private const string HttpToken = "Pl4ntedHttpT0ken";

    private static readonly string[] Secrets = [RtspPassword, WrongPassword, HttpToken];

    private static string[] ApiPaths(params string[] cameras) =>
    [
        "/api/v1/cameras", "/health", "/ready", "/startup", "/metrics", "/openapi/v1.json", "/api/v1/frames?limit=20",
        .. cameras.Select(c => $"/api/v1/cameras/{c}"),
    ];

    private static void AssertNoSecret(string channel, string text)
    {
        foreach (var secret in Secrets)
        {
            var at = text.IndexOf(secret, StringComparison.Ordinal);
            Assert.True(at < 0, $"{channel} leaks a planted secret: …{(at < 0 ? string.Empty : text.Substring(Math.Max(0, at - 80), Math.Min(160, text.Length - Math.Max(0, at - 80))))}…");
        }
    }

    [Fact]
    public async Task Secrets_PlantedInCameraUrls_NeverLeaveTheProcess()
    {
        await using var rtsp = RtspServer.Create(new RtspSource.TestPattern(), user: RtspUser, password: RtspPassword);
        await rtsp.StartAsync();
        await using var http = new LoopbackHttpServer();
        var cameras = new (string, string)[]
        {
            ("good", rtsp.UrlWith(RtspUser, RtspPassword)),
            ("wrong", rtsp.UrlWith(RtspUser, WrongPassword)),
            ("tokened", $"{http.BaseUrl}/video.mjpg?token={HttpToken}"),
        };
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < cameras.Length; i++)
        {
            settings[$"Detektor:CommandLineCameras:{i}:Width"] = "320";
            settings[$"Detektor:CommandLineCameras:{i}:Height"] = "240";
        }

        var sut = await InProcessDetektor.StartAsync(cameras, settings);
        var registry = sut.Services.GetRequiredService<CameraRegistry>();
        string answers;
        try
        {
            // The secrets were really used: the server let the right password in, refused the wrong one, and the
            // HTTP server saw the token.
            await Eventually.WaitAsync(() => registry.Find("good")!.FramesCaptured >= 5, TimeSpan.FromSeconds(90), "frames with the right password");
            await Eventually.WaitAsync(() => registry.Find("wrong")!.Reconnects >= 1 && registry.Find("tokened")!.Reconnects >= 1, TimeSpan.FromSeconds(90), "failures of the others");
            Assert.Contains(http.Requests, r => r.Contains(HttpToken, StringComparison.Ordinal));
            Assert.Equal(0, registry.Find("wrong")!.FramesCaptured);

            var all = new StringBuilder();
            foreach (var path in ApiPaths("good", "wrong", "tokened"))
            {
                using var response = await sut.Client.GetAsync(new Uri(path, UriKind.Relative), TestContext.Current.CancellationToken);
                all.Append(path).Append(' ').Append((int)response.StatusCode).Append(' ').AppendLine(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            }

            answers = all.ToString();
        }
        finally
        {
            await sut.DisposeAsync();
        }

        var telemetry = sut.TelemetryText();

        AssertNoSecret("the API, health and metrics", answers);
        AssertNoSecret("logs and spans", telemetry);

        // The channels did carry the URLs and errors, masked: the test looked at the right places.
        Assert.Contains($"rtsp://{RtspUser}:***@127.0.0.1:{rtsp.Port}/stream", answers, StringComparison.Ordinal);
        Assert.Contains("token=***", answers, StringComparison.Ordinal);
        Assert.Contains("detektor_camera_frames_total", answers, StringComparison.Ordinal);
        Assert.Contains("401 Unauthorized", telemetry, StringComparison.Ordinal);
        Assert.Contains($"url.full=rtsp://{RtspUser}:***@127.0.0.1:{rtsp.Port}/stream", telemetry, StringComparison.Ordinal);
        Assert.Contains("span frame", telemetry, StringComparison.Ordinal);
        Assert.Contains("ffmpeg [wrong]", telemetry, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Secrets_PlantedInCameraUrls_NotInTheProgramsOutput()
    {
        await using var rtsp = RtspServer.Create(new RtspSource.TestPattern(), user: RtspUser, password: RtspPassword);
        await rtsp.StartAsync();
        await using var http = new LoopbackHttpServer();
        await using var sut = DetektorProcess.Start(
        [
            "--camera", $"good={rtsp.UrlWith(RtspUser, RtspPassword)}",
            "--camera", $"wrong={rtsp.UrlWith(RtspUser, WrongPassword)}",
            "--camera", $"tokened={http.BaseUrl}/video.mjpg?token={HttpToken}",
        ]);
        await sut.WaitUntilRunningAsync();
        await Eventually.WaitAsync(
            async () => await sut.GetJsonAsync("/api/v1/cameras"),
            j => j.GetProperty("items").EnumerateArray().All(c => c.GetProperty("frames_captured").GetInt64() > 0 || c.GetProperty("reconnects").GetInt64() > 0),
            TimeSpan.FromSeconds(90),
            "every camera streaming or failed");

        var answers = new StringBuilder();
        foreach (var path in ApiPaths("good", "wrong", "tokened"))
        {
            using var response = await sut.Client.GetAsync(new Uri(path, UriKind.Relative), TestContext.Current.CancellationToken);
            answers.AppendLine(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        }

        await sut.DisposeAsync();

        AssertNoSecret("the API, health and metrics", answers.ToString());
        AssertNoSecret("stdout (JSON logs)", sut.Stdout);
        AssertNoSecret("stderr", sut.Stderr);
        Assert.Contains("401 Unauthorized", sut.Stdout, StringComparison.Ordinal);
        Assert.Contains(http.Requests, r => r.Contains(HttpToken, StringComparison.Ordinal));
    }
}
