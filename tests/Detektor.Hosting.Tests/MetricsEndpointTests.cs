using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text.RegularExpressions;
using Detektor.Core.Telemetry;
using Detektor.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Hosting.Tests;

/// <summary>What /metrics exports beyond the components' own metrics: the cardinality bound and the process's memory.</summary>
[Collection(DefaultsHost.Collection)]
public sealed partial class MetricsEndpointTests : IAsyncLifetime
{
    private const int Limit = 16;

    // Every test host in this process sees every Detektor meter: a name of its own keeps this test's series apart.
    private readonly string _name = "detektor_test_" + Guid.NewGuid().ToString("N")[..8];
    private DefaultsHost? _host;

    public async ValueTask InitializeAsync() =>
        _host = await DefaultsHost.StartAsync(("Detektor:Hosting:MetricCardinalityLimit", Limit.ToString(CultureInfo.InvariantCulture)));

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    [Fact]
    public async Task Metrics_MoreSeriesThanTheLimit_KeepsTheLimitAndCountsTheRestInTheOverflowSeries()
    {
        var meter = _host!.Services.GetRequiredService<IMeterFactory>().Create(TelemetryNames.Core);
        var counter = meter.CreateCounter<long>(_name.Replace('_', '.'), "{thing}");
        for (var i = 0; i < 40; i++)
        {
            counter.Add(1, new KeyValuePair<string, object?>("camera.id", $"cam{i}"));
        }

        var series = await SeriesAsync($"{_name}_total", s => s.Count > Limit);

        var overflow = Assert.Single(series, s => s.Labels.Contains("otel_metric_overflow=\"true\"", StringComparison.Ordinal));
        Assert.Equal(Limit, series.Count - 1);
        Assert.Equal(40 - Limit, overflow.Value);
        Assert.Equal(40, series.Sum(s => s.Value)); // nothing is lost: what did not fit is in the overflow series
    }

    [Fact]
    public async Task Metrics_HistogramUnderTheCardinalityView_KeepsItsAdvisedBuckets()
    {
        var meter = _host!.Services.GetRequiredService<IMeterFactory>().Create(TelemetryNames.Core);
        var histogram = meter.CreateHistogram(
            _name.Replace('_', '.'), "s", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 0.75] });
        histogram.Record(0.6);

        var buckets = await SeriesAsync($"{_name}_seconds_bucket", s => s.Count > 0);

        Assert.Equal(["0.25", "0.5", "0.75", "+Inf"], buckets.Select(b => LeLabel().Match(b.Labels).Groups[1].Value));
        Assert.Equal([0d, 0, 1, 1], buckets.Select(b => b.Value));
    }

    [Fact]
    public async Task Metrics_ProcessMemory_SplitsResidentMemoryByKind()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "/proc is Linux only");

        var series = await SeriesAsync("detektor_process_memory_bytes", s => s.Count == 3);

        var anonymous = Assert.Single(series, s => s.Labels.Contains("kind=\"anonymous\"", StringComparison.Ordinal));
        var file = Assert.Single(series, s => s.Labels.Contains("kind=\"file\"", StringComparison.Ordinal));
        Assert.Single(series, s => s.Labels.Contains("kind=\"shmem\"", StringComparison.Ordinal));
        Assert.True(anonymous.Value > 10 * 1024 * 1024, $"anonymous {anonymous.Value}");
        Assert.True(file.Value > 1024 * 1024, $"file {file.Value}");
        var rss = ProcessMemory.ReadSelf()!.Value.Rss;
        Assert.True(anonymous.Value + file.Value < rss * 1.5, $"anonymous {anonymous.Value} + file {file.Value} against RSS {rss}");
    }

    private async Task<List<(string Labels, double Value)>> SeriesAsync(string metric, Func<List<(string Labels, double Value)>, bool> done)
    {
        return await Eventually.WaitAsync(
            async () =>
            {
                var text = await _host!.Http.GetStringAsync("metrics", TestContext.Current.CancellationToken);
                return text.Split('\n')
                    .Where(l => l.StartsWith(metric + "{", StringComparison.Ordinal))
                    .Select(l => (l[(metric.Length + 1)..l.LastIndexOf('}')], double.Parse(l[(l.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture)))
                    .ToList();
            },
            done,
            TimeSpan.FromSeconds(30),
            $"{metric} in /metrics");
    }

    [GeneratedRegex("le=\"([^\"]+)\"")]
    private static partial Regex LeLabel();
}
