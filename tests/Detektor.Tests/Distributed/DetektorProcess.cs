using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Tests.Distributed;

/// <summary>
/// A real <c>detektor run</c> child process (the built CLI next to the tests), on a free loopback port, a temp data
/// directory, its output kept for the failure message. Stop sends SIGTERM (graceful); Kill is kill -9.
/// </summary>
public sealed class DetektorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _outputLock = new();
    private readonly TempDirectory _dir;

    private DetektorProcess(Process process, TempDirectory dir, int port, string name)
    {
        _process = process;
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

    public int ProcessId => _process.Id;

    /// <summary>The instance id the process gives itself (host-pid): the prefix of its bus consumer names.</summary>
    public string InstanceId => string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName.ToLowerInvariant()}-{_process.Id}");

    public HttpClient Http { get; }

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_outputLock)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>detektor run {arguments}</c> with <c>--urls</c> and <c>--data-dir</c> added, and these environment variables.</summary>
    public static DetektorProcess Start(string name, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "detektor.dll");
        RequiredTool.RequireFile(dll, "build src/Detektor (the test project references it)");
        var dir = new TempDirectory("detektor-proc-" + name);
        var port = FreePort.Next();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = dir.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { dll, "run", "--urls", string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"), "--data-dir", dir.Combine("data") }
                     .Concat(arguments))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["Detektor__Hosting__JsonLogs"] = "false";
        start.Environment["DOTNET_gcServer"] = "0";
        // These tests are about the bus: detection (models pulled from npm, several processors) is off unless a test turns it on.
        start.Environment["Detektor__Detection__Enabled"] = "false";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = new Process { StartInfo = start };
        var result = new DetektorProcess(process, dir, port, name);
        process.OutputDataReceived += (_, e) => result.Append(e.Data);
        process.ErrorDataReceived += (_, e) => result.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return result;
    }

    /// <summary>Waits until <c>/ready</c> answers 200.</summary>
    public Task WaitReadyAsync(TimeSpan? timeout = null) =>
        Eventually.WaitAsync(
            async () =>
            {
                if (_process.HasExited)
                {
                    throw new InvalidOperationException($"{Name} exited with {_process.ExitCode}:\n{Output}");
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
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
    }

    /// <summary>kill -9: no shutdown code runs, nothing is flushed or handed back.</summary>
    public async Task KillAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        _process.Kill();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Http.Dispose();
        _dir.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_outputLock)
        {
            if (_output.Length < 200_000)
            {
                _output.Append(Name).Append(": ").AppendLine(line);
            }
        }
    }
}
