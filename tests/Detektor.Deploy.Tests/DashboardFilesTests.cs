using System.Text.Json;

namespace Detektor.Deploy.Tests;

/// <summary>The dashboard JSON and Grafana provisioning files, checked structurally (their queries run in <see cref="LivePrometheusTests"/>).</summary>
public sealed class DashboardFilesTests
{
    [Fact]
    public void Dashboards_TheIssueList_AllPresentWithUniqueUidsAndPanelIds()
    {
        var uids = new List<string>();
        foreach (var file in Dashboards.Files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var uid = doc.RootElement.GetProperty("uid").GetString()!;
            uids.Add(uid);
            Assert.Equal(uid + ".json", Path.GetFileName(file));
            var ids = doc.RootElement.GetProperty("panels").EnumerateArray().Select(p => p.GetProperty("id").GetInt32()).ToList();
            Assert.Equal(ids.Count, ids.Distinct().Count());
        }

        Assert.Equal(
            ["detektor-camera", "detektor-frame-journey", "detektor-gpu", "detektor-health", "detektor-overview", "detektor-service"],
            uids.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ServiceDashboard_Panels_MoreThanTen()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Dashboards.Directory, "detektor-service.json")));

        Assert.True(doc.RootElement.GetProperty("panels").GetArrayLength() > 10);
    }

    [Fact]
    public void Panels_DataSources_AreProvisioned()
    {
        var provisioned = DeployFiles.LoadSingleYaml(DeployFiles.Path("grafana", "provisioning", "datasources", "detektor.yml"))
            .Child("datasources").Items().Select(d => (d.Scalar("type"), d.Scalar("uid"))).ToHashSet();

        var sut = Dashboards.Queries().Select(q => q.DataSourceType).Distinct(StringComparer.Ordinal).ToList();

        Assert.Contains(("prometheus", "prometheus"), provisioned);
        Assert.Contains(("loki", "loki"), provisioned);
        Assert.Contains(("jaeger", "jaeger"), provisioned);
        Assert.Equal(["loki", "prometheus"], sut.Order(StringComparer.Ordinal));
        foreach (var file in Dashboards.Files)
        {
            foreach (var ds in AllDataSources(JsonDocument.Parse(File.ReadAllText(file)).RootElement))
            {
                Assert.Contains((ds.Type, ds.Uid), provisioned);
            }
        }
    }

    [Fact]
    public void FrameJourney_Links_GoToJaegerByFrameIdAndToTheJourneyApi()
    {
        var text = File.ReadAllText(Path.Combine(Dashboards.Directory, "detektor-frame-journey.json"));

        Assert.Contains("/api/v1/frames/${frame_id}", text, StringComparison.Ordinal);
        Assert.Contains("${jaeger_url}/search?service=detektor&tags=%7B%22frame.id%22%3A%22${frame_id}%22%7D", text, StringComparison.Ordinal);
        // The attribute Jaeger is searched by is the one the spans carry.
        Assert.Equal("frame.id", Core.Telemetry.SemanticAttributes.FrameId);
    }

    [Fact]
    public void DashboardProvider_Path_IsWhereComposeMountsTheDashboards()
    {
        var path = DeployFiles.LoadSingleYaml(DeployFiles.Path("grafana", "provisioning", "dashboards", "detektor.yml"))
            .Child("providers").Items().Single().Child("options")!.Scalar("path");

        Assert.Equal("/var/lib/grafana/dashboards/detektor", path);
    }

    private static IEnumerable<(string Type, string Uid)> AllDataSources(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name == "datasource" && property.Value.ValueKind == JsonValueKind.Object)
                {
                    yield return (property.Value.GetProperty("type").GetString()!, property.Value.GetProperty("uid").GetString()!);
                }

                foreach (var inner in AllDataSources(property.Value))
                {
                    yield return inner;
                }
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray().SelectMany(AllDataSources))
            {
                yield return item;
            }
        }
    }
}
