using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Detektor.Core.Health;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Trace;

namespace Detektor.Hosting.Tests;

public sealed class ServiceDefaultsTests : IAsyncLifetime
{
    private readonly List<Activity> _spans = [];
    private WebApplication? _app;
    private HttpClient? _http;

    /// <summary>Set by a test before the app starts: the status of an extra check and its tags.</summary>
    private (HealthStatus Status, string[] Tags)? _extraCheck;

    private HttpClient Http => _http!;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        _http?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    private async Task StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Detektor:Hosting:MaxRequestBodyBytes"] = "2048";
        builder.Configuration["Detektor:Hosting:JsonLogs"] = "false";
        builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
        builder.AddServiceDefaults("detektor-test");
        builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(_spans));
        if (_extraCheck is { } extra)
        {
            builder.Services.AddHealthChecks().AddCheck("extra", () => new HealthCheckResult(extra.Status, "set by the test"), extra.Tags);
        }

        _app = builder.Build();
        _app.MapDefaultEndpoints();
        _app.MapGet("/boom", (HttpContext _) => throw new InvalidOperationException("secret internals rtsp://u:pw@x"));
        _app.MapPost("/upload", async (HttpContext c) =>
        {
            using var reader = new StreamReader(c.Request.Body);
            return Results.Ok((await reader.ReadToEndAsync()).Length);
        });
        _app.MapGet("/log-error", (ILogger<ServiceDefaultsTests> log) =>
        {
            log.LogError("camera rtsp://admin:topsecret@10.0.0.9/live went away");
            return Results.Ok();
        });
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/")) };
    }

    private async Task<(HttpStatusCode Code, JsonElement Body, HttpResponseMessage Response)> GetAsync(string path)
    {
        var response = await Http.GetAsync(path, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    [Fact]
    public async Task Health_AllHealthy_AnswersInSeedFormat()
    {
        await StartAsync();

        var (code, body, _) = await GetAsync("health");

        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal("healthy", body.GetProperty("status").GetString());
        Assert.Equal("detektor-test", body.GetProperty("service").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("version").GetString()));
        Assert.True(DateTimeOffset.TryParse(body.GetProperty("timestamp").GetString(), CultureInfo.InvariantCulture, out _));
        Assert.Equal("healthy", body.GetProperty("checks").GetProperty("self").GetString());
        var metadata = body.GetProperty("metadata");
        Assert.True(metadata.GetProperty("uptime_seconds").GetDouble() >= 0);
        Assert.Equal(JsonValueKind.Null, metadata.GetProperty("last_error").ValueKind);
    }

    [Theory]
    [InlineData(HealthStatus.Unhealthy, HealthTags.Ready, "health", HttpStatusCode.OK, "degraded")]
    [InlineData(HealthStatus.Unhealthy, HealthTags.Ready, "ready", HttpStatusCode.ServiceUnavailable, "unhealthy")]
    [InlineData(HealthStatus.Unhealthy, HealthTags.Live, "health", HttpStatusCode.ServiceUnavailable, "unhealthy")]
    [InlineData(HealthStatus.Degraded, HealthTags.Ready, "ready", HttpStatusCode.OK, "degraded")]
    [InlineData(HealthStatus.Unhealthy, "camera", "health", HttpStatusCode.OK, "degraded")]
    [InlineData(HealthStatus.Unhealthy, "camera", "ready", HttpStatusCode.OK, "healthy")]
    [InlineData(HealthStatus.Healthy, HealthTags.Startup, "startup", HttpStatusCode.OK, "healthy")]
    [InlineData(HealthStatus.Unhealthy, HealthTags.Startup, "startup", HttpStatusCode.ServiceUnavailable, "unhealthy")]
    public async Task Probe_CheckWithTag_GivesDocumentedStatusAndCode(HealthStatus status, string tag, string probe, HttpStatusCode expectedCode, string expectedStatus)
    {
        _extraCheck = (status, [tag]);
        await StartAsync();

        var (code, body, _) = await GetAsync(probe);

        Assert.Equal(expectedCode, code);
        Assert.Equal(expectedStatus, body.GetProperty("status").GetString());
    }

    [Fact]
    public async Task CorrelationId_Given_IsEchoedAndTaggedOnTheSpan()
    {
        await StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "boom");
        request.Headers.Add("X-Correlation-ID", "order-42.a:b_c");

        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);
        await _app!.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal("order-42.a:b_c", response.Headers.GetValues("X-Correlation-ID").Single());
        var span = Assert.Single(_spans, s => s.Kind == ActivityKind.Server && s.DisplayName.Contains("boom", StringComparison.Ordinal));
        Assert.Equal("order-42.a:b_c", span.GetTagItem("correlation.id"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("has spaces")]
    [InlineData("x<script>")]
    public async Task CorrelationId_MissingOrInvalid_IsGenerated(string? given)
    {
        await StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "health");
        if (given is not null)
        {
            request.Headers.TryAddWithoutValidation("X-Correlation-ID", given);
        }

        using var response = await Http.SendAsync(request, TestContext.Current.CancellationToken);

        var id = response.Headers.GetValues("X-Correlation-ID").Single();
        Assert.Matches("^[0-9a-f]{32}$", id);
    }

    [Fact]
    public async Task UnhandledException_Is500ProblemDetailsWithoutInternals()
    {
        await StartAsync();

        var (code, body, response) = await GetAsync("boom");

        Assert.Equal(HttpStatusCode.InternalServerError, code);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(500, body.GetProperty("status").GetInt32());
        Assert.Equal(response.Headers.GetValues("X-Correlation-ID").Single(), body.GetProperty("correlation_id").GetString());
        Assert.Matches("^[0-9a-f]{32}$", body.GetProperty("trace_id").GetString()!);
        Assert.DoesNotContain("secret internals", body.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain("pw@", body.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRoute_Is404ProblemDetails()
    {
        await StartAsync();

        var (code, body, response) = await GetAsync("no/such/thing");

        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(404, body.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task RequestBody_OverLimit_Is413ProblemDetails()
    {
        await StartAsync();
        using var small = new StringContent(new string('a', 1000), Encoding.UTF8, "text/plain");
        using var large = new StringContent(new string('a', 5000), Encoding.UTF8, "text/plain");

        using var ok = await Http.PostAsync("upload", small, TestContext.Current.CancellationToken);
        using var tooLarge = await Http.PostAsync("upload", large, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal("application/problem+json", tooLarge.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Probes_AreNotTraced_OtherRequestsAre()
    {
        await StartAsync();

        foreach (var path in new[] { "health", "ready", "startup", "metrics", "boom" })
        {
            using var _ = await Http.GetAsync(path, TestContext.Current.CancellationToken);
        }

        await _app!.StopAsync(TestContext.Current.CancellationToken);
        var server = _spans.Where(s => s.Kind == ActivityKind.Server).Select(s => s.DisplayName).ToList();
        Assert.Contains(server, n => n.Contains("boom", StringComparison.Ordinal));
        Assert.DoesNotContain(server, n => n.Contains("health", StringComparison.Ordinal) || n.Contains("ready", StringComparison.Ordinal)
            || n.Contains("startup", StringComparison.Ordinal) || n.Contains("metrics", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LastError_ShowsInHealthMetadata_Masked()
    {
        await StartAsync();

        using var _ = await Http.GetAsync("log-error", TestContext.Current.CancellationToken);
        var (_, body, _) = await GetAsync("health");

        var lastError = body.GetProperty("metadata").GetProperty("last_error");
        Assert.Contains("rtsp://admin:***@10.0.0.9", lastError.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("topsecret", body.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_ServesPrometheusTextWithRuntimeMetrics()
    {
        await StartAsync();
        using var __ = await Http.GetAsync("health", TestContext.Current.CancellationToken);

        using var response = await Http.GetAsync("metrics", TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
        Assert.Contains("# TYPE ", text, StringComparison.Ordinal);
        Assert.Contains("dotnet_gc_", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_FrameworkLogsAnExceptionWithASecret_ConsoleLineIsMasked()
    {
        var original = Console.Out;
        using var captured = new StringWriter();
        Console.SetOut(captured);
        try
        {
            await StartAsync();
            using var _ = await Http.GetAsync("boom", TestContext.Current.CancellationToken);
            await _app!.StopAsync(TestContext.Current.CancellationToken);
            await Task.Delay(200, TestContext.Current.CancellationToken); // the console logger writes on its own thread
        }
        finally
        {
            Console.SetOut(original);
        }

        var text = captured.ToString();
        Assert.Contains("rtsp://u:***@x", text, StringComparison.Ordinal);
        Assert.DoesNotContain("u:pw@", text, StringComparison.Ordinal);
    }
}
