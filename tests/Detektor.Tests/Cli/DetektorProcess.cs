using Detektor.Testing;

namespace Detektor.Tests.Cli;

/// <summary>Runs the real <c>detektor</c> program (the built detektor.dll next to the tests) as a child process.</summary>
internal sealed class DetektorProcess : IAsyncDisposable
{
    private readonly DetektorChild _child;

    private DetektorProcess(DetektorChild child) => _child = child;

    public static string DllPath => DetektorChild.DllPath;

    public string StdOut => _child.Stdout;

    public string StdErr => _child.Stderr;

    public bool HasExited => _child.HasExited;

    public int ExitCode => _child.ExitCode;

    public static DetektorProcess Start(params string[] args) => StartWithEnvironment(new Dictionary<string, string>(), args);

    public static DetektorProcess StartWithEnvironment(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        // These tests are about the foundation; detection (model pull, processors) is tested in Detektor.Detection.Tests.
        var settings = new Dictionary<string, string?> { ["Detektor__Detection__Enabled"] = "false" };
        foreach (var (key, value) in environment)
        {
            settings[key] = value;
        }

        return new DetektorProcess(DetektorChild.Start(args, Path.GetTempPath(), settings));
    }

    /// <summary>Runs to completion and returns (exit code, stdout, stderr).</summary>
    public static Task<(int Code, string Out, string Err)> RunAsync(params string[] args) => RunAsync(TimeSpan.FromSeconds(90), args);

    /// <summary>Runs to completion, waiting at most <paramref name="timeout"/>, and returns (exit code, stdout, stderr).</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(TimeSpan timeout, params string[] args)
    {
        await using var p = Start(args);
        var code = await p._child.WaitForExitAsync(timeout);
        return (code, p.StdOut, p.StdErr);
    }

    /// <summary>Sends SIGTERM (graceful stop) and waits.</summary>
    public Task<int> StopAsync() => _child.StopAsync();

    public ValueTask DisposeAsync() => _child.DisposeAsync();
}
