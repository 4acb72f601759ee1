using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Detektor.Api;
using Detektor.Api.Inference;
using Detektor.Detection.Models;
using Detektor.Hosting;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;

namespace Detektor.Detection.Tests.Api;

/// <summary><c>POST /api/v1/inference</c> on a real Kestrel on loopback with the real models.</summary>
public sealed class InferenceEndpointsTests(ModelsFixture models) : IAsyncLifetime
{
    private const long MaxImageBytes = 200_000;
    private WebApplication? _app;
    private HttpClient? _client;

    private HttpClient Client => _client!;

    public async ValueTask InitializeAsync()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        var port = FreePort.Next();
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Detektor:Detection:ModelsDirectory"] = models.Directory,
            ["Detektor:Detection:PullOnStart"] = "false",
            ["Detektor:Detection:MaxImageBytes"] = MaxImageBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Detektor:Hosting:JsonLogs"] = "false",
        });
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.AddServiceDefaults("detektor-test");
        builder.AddDetectionRuntime();
        builder.AddDetektorApi();
        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapInference();
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(1) };
    }

    private static MultipartFormDataContent Upload(byte[] bytes, string field = "image", string type = "image/jpeg")
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(type);
        return new MultipartFormDataContent { { file, field, "upload.jpg" } };
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpContent content)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/inference") { Content = content };
        request.Headers.Add("X-Correlation-ID", "test-correlation-1");
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        using var doc = JsonDocument.Parse(text);
        return (response.StatusCode, doc.RootElement.Clone());
    }

    [Fact]
    public async Task Post_Messi_FindsAPersonAndABall()
    {
        var (status, body) = await PostAsync(Upload(File.ReadAllBytes(Footage.Get("messi5.jpg"))));

        Assert.Equal(HttpStatusCode.OK, status);
        var labels = body.GetProperty("detections").EnumerateArray().Select(d => d.GetProperty("label").GetString()).ToList();
        Assert.Contains("person", labels);
        Assert.Contains("sports ball", labels);
        var first = body.GetProperty("detections")[0];
        Assert.InRange(first.GetProperty("confidence").GetDouble(), 0.3, 1);
        Assert.True(first.GetProperty("box").GetProperty("width").GetDouble() > 0);
        Assert.Equal("cpu", body.GetProperty("provider").GetString());
        Assert.False(body.GetProperty("gpu_used").GetBoolean());
        Assert.Equal("centernet.onnx", body.GetProperty("model").GetString());
        Assert.Equal("test-correlation-1", body.GetProperty("correlation_id").GetString());
        Assert.True(body.GetProperty("inference_time_ms").GetDouble() > 0);
        Assert.Equal(548, body.GetProperty("width").GetInt32());
    }

    [Fact]
    public async Task Post_FacesTrue_AddsFaces()
    {
        var (status, body) = await PostAsync(Upload(File.ReadAllBytes(Footage.Get("basketball1.png")), type: "image/png"));
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/inference?faces=true") { Content = Upload(File.ReadAllBytes(Footage.Get("basketball1.png")), type: "image/png") };
        using var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        using var withFaces = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.DoesNotContain(body.GetProperty("detections").EnumerateArray(), d => d.GetProperty("label").GetString() == "face");
        Assert.Contains(withFaces.RootElement.GetProperty("detections").EnumerateArray(), d => d.GetProperty("label").GetString() == "face" && d.GetProperty("source").GetString() == "faces");
    }

    [Theory]
    [InlineData("empty")]
    [InlineData("text")]
    [InlineData("truncated")]
    [InlineData("other-field")]
    [InlineData("json")]
    public async Task Post_BadUpload_Is400NamingTheImageField(string kind)
    {
        var jpeg = File.ReadAllBytes(Footage.Get("messi5.jpg"));
        HttpContent content = kind switch
        {
            "empty" => Upload([]),
            "text" => Upload("hello, this is not a picture"u8.ToArray(), type: "text/plain"),
            "truncated" => Upload(jpeg[..20]),
            "other-field" => Upload(jpeg, field: "file"),
            _ => new StringContent("{\"image\":\"x\"}", System.Text.Encoding.UTF8, "application/json"),
        };

        var (status, body) = await PostAsync(content);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.True(body.GetProperty("errors").TryGetProperty("image", out var messages), body.ToString());
        Assert.NotEmpty(messages[0].GetString()!);
        Assert.Equal("test-correlation-1", body.GetProperty("correlation_id").GetString());
    }

    [Fact]
    public async Task Post_LargerThanTheLimit_Is413NamingTheImageField()
    {
        var huge = new byte[MaxImageBytes + 1000];
        File.ReadAllBytes(Footage.Get("messi5.jpg")).CopyTo(huge, 0);

        var (status, body) = await PostAsync(Upload(huge));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("200000 bytes", body.GetProperty("errors").GetProperty("image")[0].GetString(), StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
