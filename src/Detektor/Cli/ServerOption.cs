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

    /// <summary>The environment variable holding the API key that client commands send (<c>X-Api-Key</c>) when set.</summary>
    public const string ApiKeyVariable = "DETEKTOR_API_KEY";

    public static HttpClient Client(string server)
    {
        var client = new HttpClient
        {
            BaseAddress = new Uri(server.TrimEnd('/') + "/"),
            Timeout = TimeSpan.FromSeconds(10),
        };
        if (Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } key)
        {
            client.DefaultRequestHeaders.Add(Web.Security.AccessControl.ApiKeyHeader, key);
        }

        return client;
    }
}
