using YamlDotNet.RepresentationModel;

namespace Detektor.Deploy.Tests;

/// <summary>The repository's deploy/ folder and YAML helpers over it.</summary>
internal static class DeployFiles
{
    public static string Root => System.IO.Path.Combine(Testing.Repository.Root, "deploy");

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    /// <summary>Every YAML document of a file (a file may hold several, separated by ---).</summary>
    public static IReadOnlyList<YamlNode> LoadYaml(string path)
    {
        using var reader = new StreamReader(path);
        var stream = new YamlStream();
        stream.Load(reader);
        return [.. stream.Documents.Select(d => d.RootNode)];
    }

    public static YamlNode LoadSingleYaml(string path) => Assert.Single(LoadYaml(path));

    public static YamlNode? Child(this YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    public static string? Scalar(this YamlNode node, string key) => (node.Child(key) as YamlScalarNode)?.Value;

    public static IEnumerable<YamlNode> Items(this YamlNode? node) => node is YamlSequenceNode seq ? seq.Children : [];

    /// <summary>The alerting rules of a Prometheus rule file: (group, alert name, expression).</summary>
    public static IReadOnlyList<(string Group, string Alert, string Expr)> AlertRules(string path) =>
        [.. LoadSingleYaml(path).Child("groups").Items()
            .SelectMany(g => g.Child("rules").Items().Select(r => (g.Scalar("name")!, r.Scalar("alert")!, r.Scalar("expr")!)))
            .Where(r => r.Item2 is not null)];
}
