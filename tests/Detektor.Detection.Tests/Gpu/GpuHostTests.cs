using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Detektor.Detection.Gpu;
using Detektor.Detection.Models;
using Detektor.Detection.Telemetry;
using Detektor.Hosting;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Detection.Tests.Gpu;

/// <summary>The <c>gpu</c> check and gauges in a real host: what /health and /metrics say, against deploy/'s queries.</summary>
public sealed partial class GpuHostTests(ModelsFixture models)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);

    private static async Task<WebApplication> StartAsync(int port, Dictionary<string, string?> settings, Action<WebApplicationBuilder> configure)
    {
        var builder = WebApplication.CreateBuilder();
        settings["Detektor:Hosting:JsonLogs"] = "false";
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
        builder.AddServiceDefaults("detektor-test");
        configure(builder);
        var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync();
        return app;
    }

    [Fact]
    public async Task Health_CudaConfiguredOnThisMachine_GpuCheckDegradedWhileDetectionRunsOnCpu()
    {
        _ = models.OnnxPath(ModelCatalog.CenterNetModel);
        var port = FreePort.Next();
        await using var app = await StartAsync(
            port,
            new()
            {
                ["Detektor:Detection:ModelsDirectory"] = models.Directory,
                ["Detektor:Detection:PullOnStart"] = "false",
                ["Detektor:Detection:ExecutionProviders:0"] = "cuda",
                ["Detektor:Detection:ExecutionProviders:1"] = "cpu",
            },
            b => b.AddDetectionRuntime());
        using var http = new HttpClient { BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/")) };
        var ct = TestContext.Current.CancellationToken;

        var body = await Eventually.WaitAsync(
            async () => JsonDocument.Parse(await http.GetStringAsync("health", ct)).RootElement.Clone(),
            b => b.GetProperty("checks").GetProperty("detector:objects").GetString() == "healthy",
            Wait,
            "the objects detector loaded");

        Assert.Equal("degraded", body.GetProperty("checks").GetProperty(GpuHealthCheck.Name).GetString());
        var detail = body.GetProperty("metadata").GetProperty("check_details").GetProperty(GpuHealthCheck.Name);
        Assert.Equal("cuda", detail.GetProperty("data").GetProperty("wanted_provider").GetString());
        Assert.Equal("cpu", detail.GetProperty("data").GetProperty("detector_objects_provider").GetString()); // the CPU build of ONNX Runtime
        Assert.Contains("cuda", detail.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_GpuReadings_ExportedUnderTheNamesTheAlertAndDashboardQuery()
    {
        var port = FreePort.Next();
        GpuReading[] readings = [new(0, "H100", 37, 3UL << 30, 80UL << 30, 86), new(1, "H100", 5, 1UL << 30, 80UL << 30, 41)];
        await using var app = await StartAsync(port, [], b =>
        {
            b.Services.AddSingleton(sp => new GpuMonitor(TimeProvider.System, TimeSpan.FromSeconds(1), () => readings, readings.Length, "present: test"));
            b.Services.AddSingleton<DetectionTelemetry>();
        });
        _ = app.Services.GetRequiredService<DetectionTelemetry>(); // instruments exist from the first resolve, as in the process role
        using var http = new HttpClient { BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/")) };

        var metrics = await http.GetStringAsync("metrics", TestContext.Current.CancellationToken);

        var queried = GpuMetric().Matches(await File.ReadAllTextAsync(Path.Combine(Repository.Root, "deploy", "prometheus", "alerts.yml"), TestContext.Current.CancellationToken))
            .Concat(GpuMetric().Matches(await File.ReadAllTextAsync(Path.Combine(Repository.Root, "deploy", "grafana", "dashboards", "detektor-gpu.json"), TestContext.Current.CancellationToken)))
            .Select(m => m.Value)
            .ToHashSet(StringComparer.Ordinal);
        Assert.Equal(["detektor_gpu_memory_used_bytes", "detektor_gpu_temperature_celsius", "detektor_gpu_utilization_percent"], queried.Order(StringComparer.Ordinal));
        Assert.Equal(86, Sample(metrics, "detektor_gpu_temperature_celsius", 0));
        Assert.Equal(41, Sample(metrics, "detektor_gpu_temperature_celsius", 1));
        Assert.Equal(37, Sample(metrics, "detektor_gpu_utilization_percent", 0));
        Assert.Equal(3.0 * (1L << 30), Sample(metrics, "detektor_gpu_memory_used_bytes", 0));
        Assert.Equal(80.0 * (1L << 30), Sample(metrics, "detektor_gpu_memory_total_bytes", 1));
        Assert.All(queried, name => Assert.True(Sample(metrics, name, 0) is not null, $"{name} not in /metrics:\n{metrics}"));
    }

    private static double? Sample(string metrics, string name, int gpu)
    {
        foreach (var line in metrics.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains($"gpu_index=\"{gpu}\"", StringComparison.Ordinal))
            {
                var value = line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0];
                return double.Parse(value, CultureInfo.InvariantCulture);
            }
        }

        return null;
    }

    [GeneratedRegex("detektor_gpu_[a-z_]+")]
    private static partial Regex GpuMetric();
}
