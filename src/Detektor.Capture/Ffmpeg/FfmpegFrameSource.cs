using System.ComponentModel;
using System.Diagnostics;
using Detektor.Core.Security;
using Microsoft.Extensions.Logging;

namespace Detektor.Capture.Ffmpeg;

/// <summary>
/// One ffmpeg child process writing raw frames on its stdout. Its stderr goes to the log line by line, secrets masked and
/// rate-limited (at most <see cref="MaxStderrLinesPerWindow"/> lines per 10 s; the rest is counted and summarised).
/// </summary>
public sealed partial class FfmpegFrameSource : IAsyncDisposable
{
    public const int MaxStderrLinesPerWindow = 20;

    private readonly string _ffmpegPath;
    private readonly IReadOnlyList<string> _arguments;
    private readonly string _camera;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private Process? _process;
    private Stream? _stdout;
    private Task? _stderrPump;
    private long _windowStart;
    private int _linesInWindow;
    private int _suppressed;

    public FfmpegFrameSource(string ffmpegPath, IReadOnlyList<string> arguments, string camera, ILogger logger, TimeProvider time)
    {
        _ffmpegPath = ffmpegPath;
        _arguments = arguments;
        _camera = camera;
        _logger = logger;
        _time = time;
    }

    /// <summary>The last line ffmpeg wrote on stderr (masked), to explain a failure.</summary>
    public string? LastError { get; private set; }

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    public int? ProcessId => _process?.Id;

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
        _stdout = _process.StandardOutput.BaseStream;
        _windowStart = _time.GetTimestamp();
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

    public async ValueTask DisposeAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await process.WaitForExitAsync(wait.Token);
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or Win32Exception)
        {
            // already gone, or refusing to die: nothing more to do here; the OS reaps it.
        }

        if (_stderrPump is not null)
        {
            await Task.WhenAny(_stderrPump, Task.Delay(TimeSpan.FromSeconds(1), _time));
        }

        FlushSuppressed();
        process.Dispose();
        _process = null;
    }

    private async Task PumpStderrAsync(StreamReader stderr)
    {
        try
        {
            while (await stderr.ReadLineAsync() is { } line)
            {
                if (line.Length == 0)
                {
                    continue;
                }

                var masked = SecretMasker.MaskSecrets(line);
                LastError = masked;
                if (_time.GetElapsedTime(_windowStart) > TimeSpan.FromSeconds(10))
                {
                    FlushSuppressed();
                    _windowStart = _time.GetTimestamp();
                    _linesInWindow = 0;
                }

                if (++_linesInWindow <= MaxStderrLinesPerWindow)
                {
                    Log.FfmpegOutput(_logger, _camera, masked);
                }
                else
                {
                    _suppressed++;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // the process went away
        }
    }

    private void FlushSuppressed()
    {
        if (_suppressed > 0)
        {
            Log.FfmpegSuppressed(_logger, _camera, _suppressed);
            _suppressed = 0;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "ffmpeg [{Camera}]: {Line}")]
        public static partial void FfmpegOutput(ILogger logger, string camera, string line);

        [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "ffmpeg [{Camera}]: {Count} more lines suppressed (rate limit)")]
        public static partial void FfmpegSuppressed(ILogger logger, string camera, int count);
    }
}
