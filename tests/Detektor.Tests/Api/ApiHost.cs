using System.Text;
using System.Text.Json;
using Detektor.Tests.Pipeline;

namespace Detektor.Tests.Api;

/// <summary>A full Detektor with no camera (API, store, bus), for HTTP behaviour tests.</summary>
internal static class ApiHost
{
    public static async Task<PipelineHost> StartAsync()
    {
        var host = new PipelineHost(new Dictionary<string, string?>
        {
            ["Detektor:Capture:DemoUrl"] = string.Empty,
            ["Detektor:Hosting:JsonLogs"] = "false",
            ["Detektor:Storage:FlushIntervalMs"] = "0",
        }, []);
        await host.StartAsync();
        return host;
    }

    public static async Task<(int Status, JsonElement Body)> SendAsync(this HttpClient http, HttpMethod method, string path, string? json = null, string contentType = "application/json")
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, contentType);
        }

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static Task<(int Status, JsonElement Body)> PostJsonAsync(this HttpClient http, string path, object body) =>
        http.SendAsync(HttpMethod.Post, path, JsonSerializer.Serialize(body));

    /// <summary>The field names a 400 ProblemDetails complains about.</summary>
    public static IReadOnlyList<string> ErrorFields(this JsonElement problem) =>
        problem.TryGetProperty("errors", out var errors) ? [.. errors.EnumerateObject().Select(p => p.Name)] : [];
}
