using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Detektor.Testing;

namespace Detektor.Capture.Tests.Cli;

/// <summary>
/// The real <c>detektor</c> program (<c>dotnet detektor.dll</c>, built beside the tests) as a child process: its exit code,
/// stdout and stderr, and — while it runs — its HTTP API on a free loopback port.
/// </summary>
public sealed class DetektorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _running = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TempDirectory _data = new("detektor-cli");
    private int _disposed;

    private DetektorProcess(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment, string? workingDirectory)
    {
        Port = FreePort.Next();
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? _data.Path,
        };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "detektor.dll"));
        info.ArgumentList.Add("run");
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add($"http://127.0.0.1:{Port}");
        info.ArgumentList.Add("--data-dir");
        info.ArgumentList.Add(_data.Combine("data"));
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        // The child must not inherit settings that would change what is tested.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("Detektor__", StringComparison.OrdinalIgnoreCase) || k.StartsWith("OTEL_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        // These tests are about capture: detection (models pulled from npm) is off unless a test turns it on.
        info.Environment["Detektor__Detection__Enabled"] = "false";

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        _process = new Process { StartInfo = info };
        _process.OutputDataReceived += (_, e) => OnLine(_stdout, e.Data, isStdout: true);
        _process.ErrorDataReceived += (_, e) => OnLine(_stderr, e.Data, isStdout: false);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }

    public HttpClient Client { get; }

    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

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

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"detektor did not exit within {timeout.TotalSeconds:0} s. stdout: {Stdout} stderr: {Stderr}");
        }

        _process.WaitForExit(); // flush the redirected output
        return _process.ExitCode;
    }

    /// <summary>Waits until detektor says it is running (its API answers).</summary>
    public async Task WaitUntilRunningAsync()
    {
        var exited = _process.WaitForExitAsync();
        var first = await Task.WhenAny(_running.Task, exited, Task.Delay(TimeSpan.FromSeconds(90)));
        if (first != _running.Task)
        {
            throw new InvalidOperationException($"detektor is not running (exited: {exited.IsCompleted}). stdout: {Stdout} stderr: {Stderr}");
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
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        _data.Dispose();
    }

    private void OnLine(StringBuilder into, string? line, bool isStdout)
    {
        if (line is null)
        {
            return;
        }

        lock (into)
        {
            into.AppendLine(line);
        }

        if (isStdout && line.StartsWith("Detektor is running at", StringComparison.Ordinal))
        {
            _running.TrySetResult();
        }
    }
}
