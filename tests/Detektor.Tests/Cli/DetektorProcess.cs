using System.Diagnostics;
using System.Text;

namespace Detektor.Tests.Cli;

/// <summary>Runs the real <c>detektor</c> program (the built detektor.dll next to the tests) as a child process.</summary>
internal sealed class DetektorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private DetektorProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Append(_stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(_stderr, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "detektor.dll");

    public string StdOut
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StdErr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static DetektorProcess Start(params string[] args) => StartWithEnvironment(new Dictionary<string, string>(), args);

    public static DetektorProcess StartWithEnvironment(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["Detektor__Hosting__JsonLogs"] = "false";
        // These tests are about the foundation; detection (model pull, processors) is tested in Detektor.Detection.Tests.
        info.Environment["Detektor__Detection__Enabled"] = "false";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        return new DetektorProcess(Process.Start(info)!);
    }

    /// <summary>Runs to completion and returns (exit code, stdout, stderr).</summary>
    public static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(90), args);

    /// <summary>Runs to completion, waiting at most <paramref name="timeout"/>, and returns (exit code, stdout, stderr).</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args)
    {
        await using var p = Start(args);
        using var cts = new CancellationTokenSource(timeout);
        await p._process.WaitForExitAsync(cts.Token);
        p._process.WaitForExit(); // flush the async readers
        return (p.ExitCode, p.StdOut, p.StdErr);
    }

    /// <summary>Sends SIGTERM (graceful stop) and waits.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static void Append(StringBuilder target, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (target)
        {
            target.AppendLine(line);
        }
    }
}
