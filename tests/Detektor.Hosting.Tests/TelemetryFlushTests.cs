using System.Diagnostics;
using System.Globalization;
using Detektor.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace Detektor.Hosting.Tests;

/// <summary>
/// The last spans of a stopping process (the frames a camera worker captured while it stopped) are exported when the
/// host has stopped, not left in the batch processor for the provider's silent disposal.
/// </summary>
public sealed class TelemetryFlushTests
{
    private const string SourceName = "Detektor.Tests.Flush";

    [Fact]
    public async Task StopAsync_SpansEndedWhileServicesStop_AreExportedBeforeDisposal()
    {
        var exported = new List<Activity>();

        // A batch processor that on its own would export only after ten minutes (or at disposal).
        var (builder, logs) = Builder(new BatchActivityExportProcessor(new InMemoryExporter<Activity>(exported), scheduledDelayMilliseconds: 600_000));
        builder.Services.AddHostedService<SpanOnStop>();
        await using var app = builder.Build();
        await app.StartAsync(TestContext.Current.CancellationToken);
        int before;
        lock (exported)
        {
            before = exported.Count(a => a.Source.Name == SourceName);
        }

        await app.StopAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, before);
        lock (exported)
        {
            var names = exported.Where(a => a.Source.Name == SourceName).Select(a => a.DisplayName).ToList();
            Assert.Equal(["frame-while-stopping"], names);
        }

        // Everything was exported: no warning. (Flushing the metrics too warned at every stop: the Prometheus exporter
        // is pulled and reports a forced flush as failed.)
        Assert.DoesNotContain("Telemetry: exporting the last", logs.Text(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StopAsync_ExporterCannotFlush_WarnsOnceNamingSpansAndTheTimeout()
    {
        var (builder, logs) = Builder(new SimpleActivityExportProcessor(new UnflushableExporter()));
        await using var app = builder.Build();
        await app.StartAsync(TestContext.Current.CancellationToken);
        await app.StopAsync(TestContext.Current.CancellationToken);

        var warnings = logs.Text().Split('\n').Where(l => l.Contains("Telemetry: exporting the last", StringComparison.Ordinal)).ToList();
        var warning = Assert.Single(warnings);
        Assert.Contains("exporting the last spans at shutdown did not finish within 5000 ms", warning, StringComparison.Ordinal);
    }

    /// <summary>The service defaults with every span sampled, this test's source exported through <paramref name="processor"/>, and the log captured.</summary>
    private static (WebApplicationBuilder Builder, CapturingLoggerProvider Logs) Builder(BaseProcessor<Activity> processor)
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration["Detektor:Hosting:JsonLogs"] = "false";
        builder.Configuration["Detektor:Hosting:TraceSampleRatio"] = "1";
        builder.WebHost.UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}"));
        builder.AddServiceDefaults("detektor-test");
        builder.Services.ConfigureOpenTelemetryTracerProvider(t => t.AddSource(SourceName).AddProcessor(processor));
        var logs = new CapturingLoggerProvider();
        builder.Logging.AddProvider(logs);
        return (builder, logs);
    }

    /// <summary>An exporter whose flush always fails, as one whose collector is gone does.</summary>
    private sealed class UnflushableExporter : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch) => ExportResult.Success;

        protected override bool OnForceFlush(int timeoutMilliseconds) => false;
    }

    private sealed class SpanOnStop : IHostedService
    {
        private static readonly ActivitySource Source = new(SourceName);

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken)
        {
            Activity.Current = null;
            using (Source.StartActivity("frame-while-stopping"))
            {
            }

            return Task.CompletedTask;
        }
    }
}
