using System.CommandLine;

namespace Detektor.Cli;

/// <summary>The <c>--server</c> option of the client commands.</summary>
internal static class ServerOption
{
    public static Option<string> Create() => new("--server", "-s")
    {
        Description = "Base URL of a running Detektor (env DETEKTOR_SERVER).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DETEKTOR_SERVER") ?? Composition.RunSettings.DefaultUrls,
    };

    public static HttpClient Client(string server) => new()
    {
        BaseAddress = new Uri(server.TrimEnd('/') + "/"),
        Timeout = TimeSpan.FromSeconds(10),
    };
}
