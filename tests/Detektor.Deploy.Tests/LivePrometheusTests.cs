using System.Text.RegularExpressions;
using Detektor.Testing;

namespace Detektor.Deploy.Tests;

/// <summary>
/// Every dashboard query and every alert expression, evaluated by a real Prometheus scraping a live <c>detektor run</c>:
/// none may fail, and a panel query may come back empty only when it is listed in <see cref="AllowedEmpty"/> with the reason.
/// </summary>
public sealed partial class LivePrometheusTests(LiveStack stack) : IClassFixture<LiveStack>
{
    /// <summary>Panel queries that have no data in a healthy one-box run, and why. Everything else must have data.</summary>
    public static readonly IReadOnlyDictionary<string, string> AllowedEmpty = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["detektor-overview/Dropped frames by stage and reason/A"] = "no frame is dropped in a healthy run; the counter appears with the first drop",
        ["detektor-camera/Frames: captured, stored, skipped, dropped/D"] = "no frame is dropped in a healthy run",
        ["detektor-camera/Decode errors/A"] = "the footage decodes cleanly; the counter appears with the first decode error",
        ["detektor-health/Store write failures and outages/A"] = "the SQLite store does not fail here",
        ["detektor-health/Store write failures and outages/B"] = "the SQLite store does not fail here",
        ["detektor-health/Processor retries and timeouts/A"] = "no processor throws in a healthy run",
        ["detektor-health/Processor retries and timeouts/B"] = "no processor hangs in a healthy run",
        ["detektor-health/Bus transport errors and dead letters/A"] = "one box uses the in-process bus (no Redis transport)",
        ["detektor-health/Bus transport errors and dead letters/B"] = "nothing is dead-lettered in a healthy run",
        ["detektor-service/Failed frames/A"] = "no processor fails in a healthy run",
        ["detektor-health/Supervised loop restarts/A"] = "no supervised loop restarts in a healthy run",
        ["detektor-gpu/GPU utilisation/A"] = "no GPU on the CI machine (NVML absent); exported only when a GPU is present",
        ["detektor-gpu/GPU memory used/A"] = "no GPU on the CI machine",
        ["detektor-gpu/GPU temperature/A"] = "no GPU on the CI machine",
    };

    /// <summary>Alerts that may fire in a healthy run here, and why; every other alert expression must be empty (quiet).</summary>
    private static readonly Dictionary<string, string> MayFire = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["DetektorEndToEndLatencyHigh"] = "CPU inference on a shared 2-core machine can take a frame past 200 ms",
    };

    [Fact]
    public async Task DashboardQueries_EveryPanel_EvaluatesWithDataUnlessAllowedEmpty()
    {
        var queries = Dashboards.Queries().Where(q => q.DataSourceType == "prometheus").ToList();
        Assert.NotEmpty(queries);
        var problems = new List<string>();

        foreach (var query in queries)
        {
            var expr = Dashboards.Expand(query.Expr);
            Assert.DoesNotContain("$", expr, StringComparison.Ordinal);
            var sut = await stack.QueryAsync(expr);
            if (sut.Error is not null)
            {
                problems.Add($"{query.Key}: error {sut.Error} in {expr}");
            }
            else if (sut.Result.GetArrayLength() == 0 && !AllowedEmpty.ContainsKey(query.Key))
            {
                problems.Add($"{query.Key}: no data for {expr}");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems) + "\n" + stack.Logs);
    }

    [Fact]
    public async Task DashboardVariables_LabelValues_HaveValues()
    {
        var variables = Dashboards.LabelValuesVariables();
        Assert.NotEmpty(variables);

        foreach (var (dashboard, name, match, label) in variables)
        {
            var sut = await stack.GetStringsAsync($"/api/v1/label/{label}/values?match[]={Uri.EscapeDataString(match)}");
            Assert.True(sut.Count > 0, $"{dashboard} variable {name}: no values of {label} for {match}");
        }
    }

    [Fact]
    public async Task AlertExpressions_Evaluate_WithoutErrorAndQuietWhileHealthy()
    {
        var rules = DeployFiles.AlertRules(DeployFiles.Path("prometheus", "alerts.yml"));
        var problems = new List<string>();

        foreach (var (_, alert, expr) in rules)
        {
            var sut = await stack.QueryAsync(expr);
            if (sut.Error is not null)
            {
                problems.Add($"{alert}: error {sut.Error}");
            }
            else if (sut.Result.GetArrayLength() > 0 && !MayFire.ContainsKey(alert))
            {
                problems.Add($"{alert}: fires on a healthy run: {sut.Result}");
            }
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public async Task PrometheusRules_LoadedFromAlertsYml_AllHealthy()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(await stack.Prometheus.GetStringAsync("/api/v1/rules", TestContext.Current.CancellationToken));
        var sut = doc.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray())
            .Select(r => (Name: r.GetProperty("name").GetString()!, Health: r.GetProperty("health").GetString()))
            .ToList();

        Assert.Equal(DeployFiles.AlertRules(DeployFiles.Path("prometheus", "alerts.yml")).Count, sut.Count);
        Assert.All(sut, r => Assert.NotEqual("err", r.Health));
    }

    [Fact]
    public async Task MetricNames_InDashboardsAndAlerts_AreScrapedOrDeclaredInTheSource()
    {
        var scraped = (await stack.GetStringsAsync("/api/v1/label/__name__/values")).ToHashSet(StringComparer.Ordinal);
        var instruments = SourceInstruments();
        var exprs = Dashboards.Queries().Where(q => q.DataSourceType == "prometheus").Select(q => q.Expr)
            .Concat(DeployFiles.AlertRules(DeployFiles.Path("prometheus", "alerts.yml")).Select(r => r.Expr));

        var names = exprs.SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).Distinct(StringComparer.Ordinal).ToList();
        var unknown = names.Where(n => !scraped.Contains(n) && !instruments.Any(i => IsExportOf(n, i))).ToList();

        Assert.True(unknown.Count == 0, "not scraped and not declared by any instrument in src/: " + string.Join(", ", unknown));
    }

    [Fact]
    public void AllowedEmpty_Entries_NameExistingPanelQueries()
    {
        var keys = Dashboards.Queries().Select(q => q.Key).ToHashSet(StringComparer.Ordinal);

        Assert.All(AllowedEmpty.Keys, k => Assert.Contains(k, keys));
    }

    /// <summary>Instrument names declared in src/ ("detektor.camera.reconnects"), in Prometheus form (detektor_camera_reconnects).</summary>
    private static List<string> SourceInstruments() =>
        Directory.GetFiles(Path.Combine(Repository.Root, "src"), "*.cs", SearchOption.AllDirectories)
            .SelectMany(f => InstrumentName().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value.Replace('.', '_')))
            .Distinct(StringComparer.Ordinal)
            .ToList();

    /// <summary>The OpenTelemetry Prometheus exporter's name for an instrument: a unit suffix, then _total/_bucket/_count/_sum.</summary>
    private static bool IsExportOf(string metric, string instrument) =>
        metric.StartsWith(instrument, StringComparison.Ordinal) && ExportSuffix().IsMatch(metric[instrument.Length..]);

    [GeneratedRegex(@"\b(?:detektor_|dotnet_|http_server_)\w+|\bup\b", RegexOptions.CultureInvariant)]
    private static partial Regex MetricName();

    [GeneratedRegex("\"(detektor\\.[a-z0-9_.]+)\"", RegexOptions.CultureInvariant)]
    private static partial Regex InstrumentName();

    [GeneratedRegex("^(_seconds|_bytes|_celsius|_percent|_per_second)?(_total|_bucket|_count|_sum)?$", RegexOptions.CultureInvariant)]
    private static partial Regex ExportSuffix();
}
