using System.Globalization;
using System.Net;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Tests.Distributed;

/// <summary>
/// A real <c>detektor run</c> child process (the built CLI next to the tests), on a free loopback port, a temp data
/// directory, its output kept for the failure message. Stop sends SIGTERM (graceful); Kill is kill -9.
/// </summary>
public sealed class DetektorProcess : IAsyncDisposable
{
    private readonly DetektorChild _child;
    private readonly TempDirectory _dir;

    private DetektorProcess(DetektorChild child, TempDirectory dir, int port, string name)
    {
        _child = child;
        _dir = dir;
        Port = port;
        Name = name;
        // The test process is not part of the traces under test: without this, an in-process host of another test (with
        // its OpenTelemetry listener) makes this client send traceparent, and the server spans would have a parent no
        // exporter ever sees.
        Http = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null }) { BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/")), Timeout = TimeSpan.FromSeconds(30) };
    }

    public string Name { get; }

    public string DataDirectory => _dir.Path;

    public int Port { get; }

    public int ProcessId => _child.Id;

    /// <summary>The instance id the process gives itself (host-pid): the prefix of its bus consumer names.</summary>
    public string InstanceId => string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName.ToLowerInvariant()}-{_child.Id}");

    public HttpClient Http { get; }

    public bool HasExited => _child.HasExited;

    public string Output => _child.Output;

    /// <summary>Starts <c>detektor run {arguments}</c> with <c>--urls</c> and <c>--data-dir</c> added, and these environment variables.</summary>
    public static DetektorProcess Start(string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var dir = new TempDirectory("detektor-proc-" + name);
        var port = FreePort.Next();
        string[] run = ["run", "--urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"), "--data-dir", dir.Combine("data")];
        var settings = new Dictionary<string, string?>
        {
            ["DOTNET_gcServer"] = "0",
            // These tests are about the bus: detection (models pulled from npm, several processors) is off unless a test turns it on.
            ["Detektor__Detection__Enabled"] = "false",
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        var child = DetektorChild.Start(run.Concat(arguments), dir.Path, settings, linePrefix: name + ": ", maxChars: 200_000);
        return new DetektorProcess(child, dir, port, name);
    }

    /// <summary>Waits until <c>/ready</c> answers 200.</summary>
    public Task WaitReadyAsync(TimeSpan? timeout = null) =>
        Eventually.WaitAsync(
            async () =>
            {
                if (_child.HasExited)
                {
                    throw new InvalidOperationException($"{Name} exited with {_child.ExitCode}:\n{Output}");
                }

                try
                {
                    using var response = await Http.GetAsync("ready");
                    return response.StatusCode;
                }
                catch (HttpRequestException)
                {
                    return HttpStatusCode.ServiceUnavailable;
                }
            },
            status => status == HttpStatusCode.OK,
            timeout ?? TimeSpan.FromSeconds(90),
            $"{Name} to be ready");

    public async Task<JsonDocument> GetJsonAsync(string path)
    {
        using var response = await Http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"{Name}: GET {path} → {(int)response.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body);
    }

    /// <summary>SIGTERM, then waits for a clean exit (hosted services drain, exporters flush).</summary>
    public async Task StopAsync()
    {
        if (!_child.HasExited)
        {
            await _child.StopAsync();
        }
    }

    /// <summary>kill -9: no shutdown code runs, nothing is flushed or handed back.</summary>
    public Task KillAsync() => _child.KillAsync();

    public async ValueTask DisposeAsync()
    {
        await _child.DisposeAsync();
        Http.Dispose();
        _dir.Dispose();
    }
}
