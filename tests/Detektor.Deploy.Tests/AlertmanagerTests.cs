using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Deploy.Tests;

/// <summary>deploy/alertmanager/alertmanager.yml: valid for amtool, routes by severity, and a real Alertmanager groups by instance and inhibits follow-on alerts.</summary>
public sealed class AlertmanagerTests
{
    private static string ConfigFile => DeployFiles.Path("alertmanager", "alertmanager.yml");

    [Fact]
    public async Task AmtoolCheckConfig_AlertmanagerYml_Succeeds()
    {
        var amtool = RequiredTool.Find("amtool");

        var (code, output) = await Tool.RunAsync(amtool, DeployFiles.Root, "check-config", ConfigFile);

        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("critical", "ops-pager")]
    [InlineData("warning", "ops-chat")]
    [InlineData("", "ops-chat")]
    public async Task AmtoolRoutesTest_BySeverity_ReachesReceiver(string severity, string receiver)
    {
        var amtool = RequiredTool.Find("amtool");

        var (code, output) = await Tool.RunAsync(
            amtool, DeployFiles.Root, "config", "routes", "test", "--config.file", ConfigFile, $"--verify.receivers={receiver}",
            "alertname=DetektorCameraOffline", "instance=a:8080", $"severity={severity}");

        Assert.True(code == 0, output);
    }

    [Fact]
    public void InhibitRules_AlertNames_ExistInTheAlertRules()
    {
        var alerts = DeployFiles.AlertRules(DeployFiles.Path("prometheus", "alerts.yml")).Select(r => r.Alert).ToHashSet(StringComparer.Ordinal);
        var named = DeployFiles.LoadSingleYaml(ConfigFile).Child("inhibit_rules").Items()
            .SelectMany(r => r.Child("source_matchers").Items().Concat(r.Child("target_matchers").Items()))
            .Select(m => ((YamlDotNet.RepresentationModel.YamlScalarNode)m).Value!)
            .Where(m => m.StartsWith("alertname=\"", StringComparison.Ordinal))
            .Select(m => m["alertname=\"".Length..^1])
            .ToList();

        Assert.NotEmpty(named);
        Assert.Empty(named.Except(alerts));
    }

    [Fact]
    public async Task Alertmanager_InstanceDownWithCameraAlerts_InhibitsOnlyThatInstanceAndGroupsByInstance()
    {
        var binary = RequiredTool.Find("prometheus-alertmanager");
        using var storage = new TempDirectory("detektor-alertmanager");
        var port = FreePort.Next();
        using var process = Process.Start(new ProcessStartInfo(binary)
        {
            ArgumentList =
            {
                $"--config.file={ConfigFile}", $"--storage.path={storage.Path}", $"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        })!;
        process.ErrorDataReceived += (_, _) => { };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await Eventually.WaitAsync(() => IsReadyAsync(http), ok => ok, TimeSpan.FromSeconds(60), "Alertmanager to answer /-/ready");

            object[] alerts =
            [
                Alert("DetektorInstanceDown", "a:8080", "critical", "instance"),
                Alert("DetektorCameraOffline", "a:8080", "critical", "camera", ("camera_id", "front")),
                Alert("DetektorStoreBacklog", "a:8080", "warning", "store"),
                Alert("DetektorCameraOffline", "b:8080", "critical", "camera", ("camera_id", "back")),
                Alert("DetektorFrameDropRateHigh", null, "warning", "pipeline", ("camera_id", "back")),
            ];
            using var posted = await http.PostAsJsonAsync("/api/v2/alerts", alerts, TestContext.Current.CancellationToken);
            posted.EnsureSuccessStatusCode();

            var sut = await Eventually.WaitAsync(
                () => ReadAlertsAsync(http), a => a.Count == 5 && a.Any(x => x.Inhibited), TimeSpan.FromSeconds(30), "the 5 alerts, inhibition applied");

            // a is down: its camera and store alerts are inhibited; b's camera is offline: its own drop-rate alert (same
            // camera_id, no instance label) is inhibited; b's camera alert and a's instance-down alert go out.
            Assert.Equal(
                ["DetektorCameraOffline@a:8080", "DetektorFrameDropRateHigh@", "DetektorStoreBacklog@a:8080"],
                sut.Where(a => a.Inhibited).Select(a => $"{a.Name}@{a.Instance}").Order(StringComparer.Ordinal));
            Assert.Equal(
                ["DetektorCameraOffline@b:8080", "DetektorInstanceDown@a:8080"],
                sut.Where(a => !a.Inhibited).Select(a => $"{a.Name}@{a.Instance}").Order(StringComparer.Ordinal));

            using var groups = JsonDocument.Parse(await http.GetStringAsync("/api/v2/alerts/groups", TestContext.Current.CancellationToken));
            var instances = groups.RootElement.EnumerateArray()
                .Select(g => g.GetProperty("receiver").GetProperty("name").GetString() + "/"
                    + (g.GetProperty("labels").TryGetProperty("instance", out var i) ? i.GetString() : "(none)"))
                .Order(StringComparer.Ordinal)
                .ToList();
            // One group (one notification) per receiver and instance, not one per alert.
            Assert.Equal(["ops-chat/(none)", "ops-chat/a:8080", "ops-pager/a:8080", "ops-pager/b:8080"], instances);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
    }

    private static Dictionary<string, object> Alert(string name, string? instance, string severity, string component, params (string Key, string Value)[] extra)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["alertname"] = name,
            ["job"] = "detektor",
            ["severity"] = severity,
            ["component"] = component,
        };
        if (instance is not null)
        {
            labels["instance"] = instance;
        }
        else
        {
            labels.Remove("job");
        }

        foreach (var (key, value) in extra)
        {
            labels[key] = value;
        }

        return new Dictionary<string, object>(StringComparer.Ordinal) { ["labels"] = labels };
    }

    private static async Task<bool> IsReadyAsync(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync("/-/ready", TestContext.Current.CancellationToken);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task<IReadOnlyList<(string Name, string? Instance, bool Inhibited)>> ReadAlertsAsync(HttpClient http)
    {
        using var doc = JsonDocument.Parse(await http.GetStringAsync("/api/v2/alerts", TestContext.Current.CancellationToken));
        return [.. doc.RootElement.EnumerateArray().Select(a =>
        {
            var labels = a.GetProperty("labels");
            return (
                labels.GetProperty("alertname").GetString()!,
                labels.TryGetProperty("instance", out var i) ? i.GetString() : null,
                a.GetProperty("status").GetProperty("inhibitedBy").GetArrayLength() > 0);
        })];
    }
}
