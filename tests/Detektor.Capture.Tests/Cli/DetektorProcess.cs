using System.Net.Http.Json;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Cli;

/// <summary>
/// The real <c>detektor</c> program (<c>dotnet detektor.dll</c>, built beside the tests) as a child process: its exit code,
/// stdout and stderr, and — while it runs — its HTTP API on a free loopback port.
/// </summary>
public sealed class DetektorProcess : IAsyncDisposable
{
    private readonly DetektorChild _child;
    private readonly TaskCompletionSource _running = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TempDirectory _data = new("detektor-cli");
    private int _disposed;

    private DetektorProcess(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment, string? workingDirectory)
    {
        Port = FreePort.Next();
        string[] run = ["run", "--urls", $"http://127.0.0.1:{Port}", "--data-dir", _data.Combine("data")];

        // These tests are about capture: detection (models pulled from npm) is off unless a test turns it on.
        var settings = new Dictionary<string, string?> { ["Detektor__Detection__Enabled"] = "false" };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            settings[key] = value;
        }

        // The child must not inherit settings that would change what is tested.
        _child = DetektorChild.Start(
            run.Concat(arguments),
            workingDirectory ?? _data.Path,
            settings,
            removeInherited: static k => k.StartsWith("Detektor__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("OTEL_", StringComparison.Ordinal),
            onLine: (line, isStdout) =>
            {
                if (isStdout && line.StartsWith("Detektor is running at", StringComparison.Ordinal))
                {
                    _running.TrySetResult();
                }
            });
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }

    public HttpClient Client { get; }

    public string Stdout => _child.Stdout;

    public string Stderr => _child.Stderr;

    /// <summary>Lines written on stderr.</summary>
    public IReadOnlyList<string> StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static DetektorProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        RequiredTool.Find("ffmpeg");
        return new DetektorProcess(arguments, environment, workingDirectory);
    }

    /// <summary>Runs detektor expecting it to stop by itself (a configuration error); returns the exit code.</summary>
    public static async Task<(int ExitCode, DetektorProcess Process)> RunToExitAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var process = Start(arguments, environment);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (exitCode, process);
    }

    public Task<int> WaitForExitAsync(TimeSpan timeout) => _child.WaitForExitAsync(timeout);

    /// <summary>Waits until detektor says it is running (its API answers).</summary>
    public async Task WaitUntilRunningAsync()
    {
        var first = await Task.WhenAny(_running.Task, _child.Exited, Task.Delay(TimeSpan.FromSeconds(90)));
        if (first != _running.Task)
        {
            throw new InvalidOperationException($"detektor is not running (exited: {_child.HasExited}). stdout: {Stdout} stderr: {Stderr}");
        }
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await Client.GetAsync(new Uri(path, UriKind.Relative));
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Client.Dispose();
        await _child.DisposeAsync();
        _data.Dispose();
    }
}
