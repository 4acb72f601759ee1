using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Detektor.Imaging;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Api;

/// <summary>GET /api/v1/cameras, /api/v1/cameras/{name} and /api/v1/cameras/{name}/snapshot.jpg on the real composition.</summary>
public sealed class CamerasApiTests
{
    private static Dictionary<string, string?> Small(int index, int fps = 5) => new()
    {
        [$"Detektor:CommandLineCameras:{index}:Width"] = "320",
        [$"Detektor:CommandLineCameras:{index}:Height"] = "240",
        [$"Detektor:CommandLineCameras:{index}:Fps"] = fps.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task Cameras_StreamingCamera_ListDetailAndSnapshot()
    {
        await using var sut = await InProcessDetektor.StartAsync([("yard", "testsrc2://")], Small(0));
        var ct = TestContext.Current.CancellationToken;
        await Eventually.WaitAsync(
            async () => await sut.Client.GetFromJsonAsync<JsonElement>("/api/v1/cameras/yard", ct),
            j => j.GetProperty("frames_captured").GetInt64() >= 3,
            TimeSpan.FromSeconds(60),
            "frames");

        var list = await sut.Client.GetFromJsonAsync<JsonElement>("/api/v1/cameras", ct);
        var item = Assert.Single(list.GetProperty("items").EnumerateArray().ToList());
        Assert.Equal("yard", item.GetProperty("name").GetString());
        Assert.Equal("testsrc2://", item.GetProperty("url").GetString());
        Assert.Equal("streaming", item.GetProperty("state").GetString());
        Assert.True(item.GetProperty("measured_fps").GetDouble() > 0);
        Assert.Equal(JsonValueKind.String, item.GetProperty("last_frame_at").ValueKind);
        Assert.Contains(item.GetProperty("health").GetString(), (string[])["healthy", "degraded"]);
        Assert.Equal(0, item.GetProperty("reconnects").GetInt64());
        Assert.False(item.TryGetProperty("transitions", out _), "the list leaves the transitions out");

        var detail = await sut.Client.GetFromJsonAsync<JsonElement>("/api/v1/cameras/yard", ct);
        var transition = detail.GetProperty("transitions").EnumerateArray().Last();
        Assert.Equal("connecting", transition.GetProperty("from").GetString());
        Assert.Equal("streaming", transition.GetProperty("to").GetString());
        Assert.Equal("first_frame", transition.GetProperty("reason").GetString());
        Assert.True(transition.GetProperty("at").GetDateTimeOffset() <= DateTimeOffset.UtcNow);
        Assert.Equal(JsonValueKind.Array, detail.GetProperty("motion_boxes").ValueKind);

        using var snapshot = await sut.Client.GetAsync(new Uri("/api/v1/cameras/yard/snapshot.jpg", UriKind.Relative), ct);
        Assert.Equal(HttpStatusCode.OK, snapshot.StatusCode);
        Assert.Equal("image/jpeg", snapshot.Content.Headers.ContentType!.MediaType);
        var image = ImageCodec.Decode(await snapshot.Content.ReadAsByteArrayAsync(ct));
        Assert.Equal((320, 240), (image.Width, image.Height));
        Assert.True(long.Parse(snapshot.Headers.GetValues("X-Frame-Sequence").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
    }

    [Fact]
    public async Task Snapshot_RealFootage_ShowsThePicture()
    {
        var footage = Footage.Get("vtest.mp4");
        await using var sut = await InProcessDetektor.StartAsync([("campus", footage)], Small(0));
        var ct = TestContext.Current.CancellationToken;
        await Eventually.WaitAsync(
            async () => (await sut.Client.GetAsync(new Uri("/api/v1/cameras/campus/snapshot.jpg", UriKind.Relative), ct)).StatusCode,
            s => s == HttpStatusCode.OK,
            TimeSpan.FromSeconds(60),
            "a snapshot");

        var image = ImageCodec.Decode(await sut.Client.GetByteArrayAsync(new Uri("/api/v1/cameras/campus/snapshot.jpg", UriKind.Relative), ct));

        // Not a blank or uniform picture: the campus scene has plenty of contrast.
        var pixels = image.Pixels;
        var min = 255;
        var max = 0;
        for (var i = 0; i < pixels.Length; i += 3)
        {
            min = Math.Min(min, pixels[i + 1]);
            max = Math.Max(max, pixels[i + 1]);
        }

        Assert.True(max - min > 100, $"green range {min}..{max}");
    }

    [Fact]
    public async Task Snapshot_NoFrameYet_404ProblemDetails()
    {
        await using var silent = new SilentTcpServer();
        await using var sut = await InProcessDetektor.StartAsync([("dark", $"rtsp://127.0.0.1:{silent.Port}/s")], Small(0));
        var ct = TestContext.Current.CancellationToken;

        using var response = await sut.Client.GetAsync(new Uri("/api/v1/cameras/dark/snapshot.jpg", UriKind.Relative), ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
        Assert.Equal(404, problem.GetProperty("status").GetInt32());
        Assert.StartsWith("Camera 'dark' has no frame yet", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/v1/cameras/nope")]
    [InlineData("/api/v1/cameras/nope/snapshot.jpg")]
    public async Task Cameras_UnknownName_404ProblemDetails(string path)
    {
        await using var sut = await InProcessDetektor.StartAsync([("only", "testsrc2://")], Small(0));

        using var response = await sut.Client.GetAsync(new Uri(path, UriKind.Relative), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
    }
}
