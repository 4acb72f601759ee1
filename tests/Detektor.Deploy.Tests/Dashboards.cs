using System.Text.Json;

namespace Detektor.Deploy.Tests;

/// <summary>The Grafana dashboards of deploy/grafana/dashboards and their Prometheus queries.</summary>
internal static class Dashboards
{
    public static string Directory => DeployFiles.Path("grafana", "dashboards");

    public static IReadOnlyList<string> Files => System.IO.Directory.GetFiles(Directory, "*.json").Order(StringComparer.Ordinal).ToList();

    /// <summary>Every Prometheus target of every panel: (dashboard uid, panel title, refId, expr).</summary>
    public static IReadOnlyList<PanelQuery> Queries()
    {
        var result = new List<PanelQuery>();
        foreach (var file in Files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var uid = doc.RootElement.GetProperty("uid").GetString()!;
            foreach (var panel in doc.RootElement.GetProperty("panels").EnumerateArray())
            {
                if (!panel.TryGetProperty("targets", out var targets))
                {
                    continue;
                }

                foreach (var target in targets.EnumerateArray())
                {
                    var type = target.GetProperty("datasource").GetProperty("type").GetString();
                    result.Add(new PanelQuery(
                        uid, panel.GetProperty("title").GetString()!, target.GetProperty("refId").GetString()!, type!, target.GetProperty("expr").GetString()!));
                }
            }
        }

        return result;
    }

    /// <summary>The query variables (label_values(metric, label)) of every dashboard: (dashboard uid, name, metric selector, label).</summary>
    public static IReadOnlyList<(string Dashboard, string Name, string Match, string Label)> LabelValuesVariables()
    {
        var result = new List<(string, string, string, string)>();
        foreach (var file in Files)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            var uid = doc.RootElement.GetProperty("uid").GetString()!;
            foreach (var variable in doc.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray())
            {
                if (variable.GetProperty("type").GetString() != "query")
                {
                    continue;
                }

                var query = variable.GetProperty("query").GetProperty("query").GetString()!;
                Assert.StartsWith("label_values(", query, StringComparison.Ordinal);
                var inner = query["label_values(".Length..^1];
                var comma = inner.LastIndexOf(',');
                result.Add((uid, variable.GetProperty("name").GetString()!, inner[..comma].Trim(), inner[(comma + 1)..].Trim()));
            }
        }

        return result;
    }

    /// <summary>Grafana's variables replaced the way Grafana would for "All" on a 1 s scrape interval.</summary>
    public static string Expand(string expr) => expr
        .Replace("$__rate_interval", "1m", StringComparison.Ordinal)
        .Replace("$camera", ".*", StringComparison.Ordinal)
        .Replace("$instance", ".*", StringComparison.Ordinal);
}

internal sealed record PanelQuery(string Dashboard, string Panel, string RefId, string DataSourceType, string Expr)
{
    public string Key => $"{Dashboard}/{Panel}/{RefId}";
}
