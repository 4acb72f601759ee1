using System.Net;

namespace Detektor.Web.Tests.Security;

public sealed class LoopbackAccessTests
{
    [Fact]
    public async Task Request_LoopbackBindNoSettings_OpenWithoutCredentials()
    {
        await using var host = new WebHost(WebHost.NoCamera());
        await host.StartAsync();
        using var http = host.CreateClient();
        foreach (var path in new[] { "/api/v1/cameras", "/api/v1/frames", "/", "/system", "/frames" })
        {
            using var response = await http.GetAsync(path, TestContext.Current.CancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} → {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task Request_LoopbackBindModeRequired_Answers401()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Security:Mode"] = "Required";
        await using var host = new WebHost(settings);
        await host.StartAsync();
        using var http = host.CreateClient();
        using var response = await http.GetAsync("/api/v1/cameras", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Request_NonLoopbackBindModeOpen_AnswersAndWarns()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Security:Mode"] = "Open";
        await using var host = new WebHost(settings, bindHost: "0.0.0.0");
        await host.StartAsync();
        using var http = host.CreateClient();
        using var response = await http.GetAsync("/api/v1/cameras", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(host.Logs, l => l.Contains("Access control is off (Detektor:Security:Mode=Open)", StringComparison.Ordinal));
    }
}
