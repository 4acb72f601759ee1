using System.ComponentModel;
using System.Diagnostics;

namespace Detektor.Capture.Ffmpeg;

/// <summary>
/// One ffmpeg child process writing raw frames on its stdout; its stderr goes to an <see cref="FfmpegStderr"/> (log,
/// masking, decode-error counting). Disposing kills the process if it still runs.
/// </summary>
public sealed class FfmpegFrameSource : IAsyncDisposable
{
    private readonly string _ffmpegPath;
    private readonly IReadOnlyList<string> _arguments;
    private readonly FfmpegStderr _stderr;
    private Process? _process;
    private Stream? _stdout;
    private Task? _stderrPump;
    private int _killed;

    public FfmpegFrameSource(string ffmpegPath, IReadOnlyList<string> arguments, FfmpegStderr stderr)
    {
        _ffmpegPath = ffmpegPath;
        _arguments = arguments;
        _stderr = stderr;
    }

    /// <summary>The last line ffmpeg wrote on stderr that explains a failure (masked).</summary>
    public string? LastError => _stderr.LastError;

    /// <summary>ffmpeg's exit code once it has exited.</summary>
    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    public int? ProcessId { get; private set; }

    /// <summary>True when <see cref="Kill"/> ended the process (stall watchdog or shutdown), not ffmpeg itself.</summary>
    public bool WasKilled => Volatile.Read(ref _killed) != 0;

    /// <summary>Starts ffmpeg. Throws <see cref="Win32Exception"/> when the binary cannot be started.</summary>
    public void Start()
    {
        var info = new ProcessStartInfo(_ffmpegPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var arg in _arguments)
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info) ?? throw new Win32Exception($"ffmpeg could not be started from '{_ffmpegPath}'.");
        ProcessId = _process.Id;
        _stdout = _process.StandardOutput.BaseStream;
        _stderrPump = PumpStderrAsync(_process.StandardError);
    }

    /// <summary>Fills <paramref name="destination"/> with the next frame; false at the end of the stream.</summary>
    public async ValueTask<bool> ReadFrameAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        if (_stdout is null)
        {
            throw new InvalidOperationException("The source is not started.");
        }

        try
        {
            await _stdout.ReadExactlyAsync(destination, cancellationToken);
            return true;
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }

    /// <summary>Kills ffmpeg (the read in progress then ends); safe to call from any thread, more than once.</summary>
    public void Kill()
    {
        Interlocked.Exchange(ref _killed, 1);
        try
        {
            if (_process is { HasExited: false } p)
            {
                p.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // already gone
        }
    }

    /// <summary>Waits (briefly) for ffmpeg to exit and for its last stderr lines, so <see cref="LastError"/> explains the end.</summary>
    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        if (_process is null)
        {
            return;
        }

        using var wait = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(wait.Token);
            if (_stderrPump is not null)
            {
                await _stderrPump.WaitAsync(wait.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // still running: the caller kills it
        }
    }

    public async ValueTask DisposeAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        if (!process.HasExited)
        {
            Kill();
        }

        await WaitForExitAsync(TimeSpan.FromSeconds(5));
        _stderr.Flush();
        process.Dispose();
        _process = null;
    }

    private async Task PumpStderrAsync(StreamReader stderr)
    {
        try
        {
            while (await stderr.ReadLineAsync() is { } line)
            {
                _stderr.OnLine(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // the process went away
        }
    }
}
