namespace Detektor.Composition;

/// <summary>What <c>detektor run</c> was asked to do, before configuration files and environment are layered on.</summary>
public sealed record RunSettings
{
    public const string DefaultUrls = "http://127.0.0.1:8080";

    public string Urls { get; init; } = DefaultUrls;

    public string DataDir { get; init; } = "data";

    public Roles Roles { get; init; } = Roles.All;

    /// <summary>Redis for the bus (<c>--redis HOST:PORT</c>); null keeps the configured transport (in process by default).</summary>
    public string? Redis { get; init; }

    /// <summary>Cameras given as NAME=URL on the command line.</summary>
    public IReadOnlyList<(string Name, string Url)> Cameras { get; init; } = [];

    /// <summary>Extra configuration files (JSON).</summary>
    public IReadOnlyList<string> ConfigFiles { get; init; } = [];

    /// <summary>Further configuration as key/value pairs (tests, and <c>--set key=value</c>).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; init; } = new Dictionary<string, string?>();
}
