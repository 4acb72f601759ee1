using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Detektor.Bus.Registry;
using Detektor.Composition;
using Detektor.Testing;
using CliProcess = Detektor.Tests.Cli.DetektorProcess;

namespace Detektor.Tests.Distributed;

/// <summary>
/// Consul registration through the agent's HTTP API. No Consul can be installed here (Debian does not package it), so a
/// loopback HTTP listener stands in for the agent and records what a real <c>detektor run</c> sends it: the requests are
/// checked against Consul's documented API (PUT /v1/agent/service/register, PUT /v1/agent/service/deregister/{id}).
/// </summary>
public sealed class ConsulRegistrationTests
{
    private const string Token = "consul-acl-s3cret-4711";

    [Fact]
    public void RegistrationBody_Instance_CarriesIdNameAddressRolesAndAHealthCheck()
    {
        var instance = new InstanceRegistration("host-42", "detektor-capture", ["capture", "api"], "http://10.0.0.7:8080", "1.2.3");

        var sut = ConsulAgentClient.RegistrationBody(instance, "detektor", new ConsulOptions { CheckIntervalSeconds = 7, DeregisterAfterSeconds = 90 });

        Assert.Equal("host-42", (string?)sut["ID"]);
        Assert.Equal("detektor", (string?)sut["Name"]);
        Assert.Equal("10.0.0.7", (string?)sut["Address"]);
        Assert.Equal(8080, (int?)sut["Port"]);
        Assert.Equal(["role-capture", "role-api", "version-1.2.3"], sut["Tags"]!.AsArray().Select(t => (string?)t));
        Assert.Equal("capture,api", (string?)sut["Meta"]!["roles"]);
        Assert.Equal("http://10.0.0.7:8080/health", (string?)sut["Check"]!["HTTP"]);
        Assert.Equal("7s", (string?)sut["Check"]!["Interval"]);
        Assert.Equal("90s", (string?)sut["Check"]!["DeregisterCriticalServiceAfter"]);
    }

    [Fact]
    public async Task Run_ConsulConfigured_RegistersWithTokenAndHealthCheckThenDeregistersOnStopTokenNeverLogged()
    {
        await using var agent = FakeAgent.Start();
        await using var sut = DetektorProcess.Start("consul", ["--set", "Detektor:Discovery:Consul:Address=" + agent.Url, "--set", "Detektor:Discovery:Consul:Token=" + Token]);
        await sut.WaitReadyAsync();

        var register = await Eventually.WaitAsync(
            () => Task.FromResult(agent.Requests.FirstOrDefault(r => r.Path == "/v1/agent/service/register")),
            r => r is not null, TimeSpan.FromSeconds(30), "the registration to reach the agent");
        Assert.Equal("PUT", register!.Method);
        Assert.Equal(Token, register.Token);
        var body = JsonNode.Parse(register.Body)!;
        Assert.Equal(sut.InstanceId, (string?)body["ID"]);
        Assert.Equal("detektor", (string?)body["Name"]);
        Assert.Equal(sut.Port, (int?)body["Port"]);
        Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{sut.Port}/health"), (string?)body["Check"]!["HTTP"]);
        Assert.Contains("role-capture", body["Tags"]!.AsArray().Select(t => (string?)t));

        await sut.StopAsync();

        var deregister = Assert.Single(agent.Requests, r => r.Path.StartsWith("/v1/agent/service/deregister/", StringComparison.Ordinal));
        Assert.Equal("/v1/agent/service/deregister/" + sut.InstanceId, deregister.Path);
        Assert.Equal(Token, deregister.Token);
        Assert.Contains("registered with Consul", sut.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, sut.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ConsulAddressNotAUrl_ExitsNamingTheKey()
    {
        var (code, output, error) = await CliProcess.RunAsync("run", "--set", "Detektor:Discovery:Consul:Address=consul:8500", "--set", "Detektor:Discovery:Consul:RefreshSeconds=1");

        Assert.NotEqual(0, code);
        Assert.Contains("Detektor:Discovery:Consul:Address: 'consul:8500' is not an absolute http(s) URL", output + error, StringComparison.Ordinal);
        Assert.Contains("Detektor:Discovery:Consul:RefreshSeconds: 1 is out of range; allowed 5 to 86400.", output + error, StringComparison.Ordinal);
    }

    private sealed record AgentRequest(string Method, string Path, string? Token, string Body);

    /// <summary>Answers 200 to every request on loopback and records it.</summary>
    private sealed class FakeAgent : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;

        private FakeAgent(int port)
        {
            Url = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}");
            _listener.Prefixes.Add(Url + "/");
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }

        public ConcurrentQueue<AgentRequest> Requests { get; } = new();

        public static FakeAgent Start() => new(FreePort.Next());

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _listener.Close();
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                Requests.Enqueue(new AgentRequest(context.Request.HttpMethod, context.Request.Url!.AbsolutePath, context.Request.Headers["X-Consul-Token"], body));
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        }
    }
}
