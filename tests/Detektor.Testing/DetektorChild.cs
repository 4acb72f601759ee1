using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Detektor.Testing;

/// <summary>
/// The real <c>detektor</c> program (<c>dotnet detektor.dll</c>, built beside the tests) as a child process: its output
/// kept (stdout and stderr apart and interleaved, each line also passed to a callback), a graceful stop (SIGTERM), a hard
/// kill, and on dispose the whole process tree killed. The test helpers that start detektor in their own way (a CLI run,
/// a capture run with its API, a distributed role) build on this one.
/// </summary>
public sealed class DetektorChild : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly StringBuilder _output = new();
    private readonly Lock _lock = new();
    private readonly Action<string, bool>? _onLine;
    private readonly string? _linePrefix;
    private readonly int _maxChars;
    private int _disposed;

    private DetektorChild(ProcessStartInfo start, Action<string, bool>? onLine, string? linePrefix, int maxChars)
    {
        _onLine = onLine;
        _linePrefix = linePrefix;
        _maxChars = maxChars;
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, isStdout: true);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, isStdout: false);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>detektor.dll next to the test assembly.</summary>
    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "detektor.dll");

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Stdout => Read(_stdout);

    public string Stderr => Read(_stderr);

    /// <summary>Both streams in the order the lines arrived, each line prefixed with the name given at start (if any).</summary>
    public string Output => Read(_output);

    /// <summary>
    /// Starts <c>dotnet detektor.dll {arguments}</c> in <paramref name="workingDirectory"/>. Plain-text logs unless the
    /// environment says otherwise; <paramref name="environment"/> is applied last (a null value removes a variable), and
    /// <paramref name="removeInherited"/> drops inherited variables first (e.g. <c>Detektor__</c> settings of the
    /// test run). <paramref name="onLine"/> gets each line and whether it came on stdout. Output is kept up to
    /// <paramref name="maxChars"/> characters per stream.
    /// </summary>
    public static DetektorChild Start(
        IEnumerable<string> arguments,
        string workingDirectory,
        IReadOnlyDictionary<string, string?>? environment = null,
        Func<string, bool>? removeInherited = null,
        Action<string, bool>? onLine = null,
        string? linePrefix = null,
        int maxChars = 1_000_000)
    {
        RequiredTool.RequireFile(DllPath, "build src/Detektor (the test project references it)");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add(DllPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        if (removeInherited is not null)
        {
            foreach (var key in start.Environment.Keys.Where(removeInherited).ToList())
            {
                start.Environment.Remove(key);
            }
        }

        start.Environment["Detektor__Hosting__JsonLogs"] = "false";
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                start.Environment.Remove(key);
            }
            else
            {
                start.Environment[key] = value;
            }
        }

        return new DetektorChild(start, onLine, linePrefix, maxChars);
    }

    /// <summary>Completes when the process has exited (no bound: for racing against other waits).</summary>
    public Task Exited => _process.WaitForExitAsync();

    /// <summary>Waits for the process to exit (throwing <see cref="TimeoutException"/> with its output if it does not) and for its last output lines.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"detektor did not exit within {timeout.TotalSeconds:0} s. Output:\n{Output}");
        }

        _process.WaitForExit(); // flush the redirected output
        return _process.ExitCode;
    }

    /// <summary>SIGTERM (hosted services drain, exporters flush), then waits for the exit.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        return await WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(60));
    }

    /// <summary>kill -9 of the process itself: no shutdown code runs, nothing is flushed or handed back.</summary>
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

    /// <summary>Kills the whole process tree (detektor and its ffmpeg children) if it still runs.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private string Read(StringBuilder from)
    {
        lock (_lock)
        {
            return from.ToString();
        }
    }

    private void OnLine(string? line, bool isStdout)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            var stream = isStdout ? _stdout : _stderr;
            if (stream.Length < _maxChars)
            {
                stream.AppendLine(line);
            }

            if (_output.Length < _maxChars)
            {
                _output.Append(_linePrefix).AppendLine(line);
            }
        }

        _onLine?.Invoke(line, isStdout);
    }
}
