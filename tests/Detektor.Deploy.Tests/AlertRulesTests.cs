using Detektor.Testing;

namespace Detektor.Deploy.Tests;

/// <summary>deploy/prometheus/alerts.yml: valid for promtool, every rule unit-tested, the issue's alerts all present.</summary>
public sealed class AlertRulesTests
{
    private static string AlertsFile => DeployFiles.Path("prometheus", "alerts.yml");

    private static string[] TestFiles => Directory.GetFiles(DeployFiles.Path("prometheus", "tests"), "*.yml");

    [Fact]
    public async Task PromtoolCheckRules_AlertsFile_Succeeds()
    {
        var promtool = RequiredTool.Find("promtool");

        var (code, output) = await Tool.RunAsync(promtool, DeployFiles.Path("prometheus"), "check", "rules", "alerts.yml");

        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PromtoolTestRules_EveryTestFile_Passes()
    {
        var promtool = RequiredTool.Find("promtool");
        Assert.NotEmpty(TestFiles);

        foreach (var file in TestFiles)
        {
            var (code, output) = await Tool.RunAsync(promtool, Path.GetDirectoryName(file)!, "test", "rules", Path.GetFileName(file));
            Assert.True(code == 0, $"{Path.GetFileName(file)}: {output}");
            Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AlertRules_EveryRule_HasATestThatExpectsItToFireAndOneThatExpectsSilence()
    {
        var sut = DeployFiles.AlertRules(AlertsFile).Select(r => r.Alert).ToHashSet(StringComparer.Ordinal);
        var cases = TestFiles
            .SelectMany(f => DeployFiles.LoadSingleYaml(f).Child("tests").Items())
            .SelectMany(t => t.Child("alert_rule_test").Items())
            .Select(c => (Alert: c.Scalar("alertname")!, Fires: c.Child("exp_alerts").Items().Any()))
            .ToList();

        var firing = cases.Where(c => c.Fires).Select(c => c.Alert).ToHashSet(StringComparer.Ordinal);
        var silent = cases.Where(c => !c.Fires).Select(c => c.Alert).ToHashSet(StringComparer.Ordinal);
        Assert.Empty(sut.Except(firing));
        Assert.Empty(sut.Except(silent));
        Assert.Empty(firing.Union(silent).Except(sut)); // no test of a rule that no longer exists
    }

    [Fact]
    public void AlertRules_IssueList_AllPresentWithSeverityAndRunbook()
    {
        string[] expected =
        [
            "DetektorInstanceDown", "DetektorCameraOffline", "DetektorFrameDropRateHigh", "DetektorQueueBacklogGrowing",
            "DetektorEndToEndLatencyHigh", "DetektorDetectorStalled", "DetektorStoreBacklog", "DetektorGpuHot",
        ];
        var rules = DeployFiles.LoadSingleYaml(AlertsFile).Child("groups").Items().SelectMany(g => g.Child("rules").Items()).ToList();

        Assert.Empty(expected.Except(rules.Select(r => r.Scalar("alert"))));
        foreach (var rule in rules)
        {
            Assert.Contains(rule.Child("labels")!.Scalar("severity"), new[] { "critical", "warning" });
            var runbook = rule.Child("annotations")!.Scalar("runbook")!;
            Assert.StartsWith("docs/operations.md#", runbook, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void AlertRules_Runbooks_PointAtHeadingsOfTheOperationsGuide()
    {
        var guide = File.ReadAllLines(Path.Combine(Repository.Root, "docs", "operations.md"));
        var anchors = guide.Where(l => l.StartsWith('#')).Select(Anchor).ToHashSet(StringComparer.Ordinal);
        var runbooks = DeployFiles.LoadSingleYaml(AlertsFile).Child("groups").Items()
            .SelectMany(g => g.Child("rules").Items())
            .Select(r => r.Child("annotations")!.Scalar("runbook")!.Split('#')[1])
            .Distinct(StringComparer.Ordinal);

        Assert.Empty(runbooks.Except(anchors));
    }

    /// <summary>GitHub's heading anchor: lower case, punctuation removed, spaces to dashes.</summary>
    private static string Anchor(string heading)
    {
        var text = heading.TrimStart('#').Trim().ToLowerInvariant();
        return new string([.. text.Where(c => char.IsLetterOrDigit(c) || c is ' ' or '-' or '_').Select(c => c == ' ' ? '-' : c)]);
    }
}
