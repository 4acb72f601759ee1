using System.ComponentModel;
using System.Diagnostics;
using System.Threading.Channels;
using Detektor.Core.Buffers;

namespace Detektor.Capture.Ffmpeg;

/// <summary>
/// One ffmpeg child process writing raw frames on its stdout; its stderr goes to an <see cref="FfmpegStderr"/> (log,
/// masking, decode-error counting). Frames are read by a dedicated thread with blocking reads straight into pooled buffers
/// (a third of the CPU of asynchronous pipe reads, measured: docs/performance.md) and handed over through a queue of
/// two. Disposing kills the process if it still runs and returns undelivered buffers to the pool.
/// </summary>
public sealed class FfmpegFrameSource : IAsyncDisposable
{
    private readonly string _ffmpegPath;
    private readonly IReadOnlyList<string> _arguments;
    private readonly FfmpegStderr _stderr;
    private Process? _process;
    private Stream? _stdout;
    private Task? _stderrPump;
    private Thread? _reader;
    private Channel<FrameBuffer>? _frames;
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

    /// <summary>
    /// Starts the reader thread: it rents a buffer of <paramref name="frameSize"/> bytes from <paramref name="pool"/> per
    /// frame and fills it from ffmpeg's stdout. Frames are then taken with <see cref="ReadFrameAsync"/>.
    /// </summary>
    /// <remarks>
    /// A reader that is waiting in <see cref="ReadFrameAsync"/> is continued on the reader thread itself, up to its next
    /// wait: the frame's work (motion, events, publish) then runs without a hand-over to the thread pool, which cost a
    /// thread wake-up per frame. Whatever waits after that (a full queue, a network round trip) continues on the thread
    /// pool as before, and the reader thread goes back to the pipe. Measured side by side (docs/performance.md,
    /// "Capture"): 1.8 and 3.4 fewer context switches a frame in two runs, and less CPU for the capture process.
    /// The pipe keeps the operating system's size (64 KiB on Linux): growing it to hold a whole frame, as done until
    /// 2026-11-25, cost both processes more CPU once ffmpeg wrote each frame in one <c>write</c>; a small pipe keeps
    /// its pages in the cache.
    /// </remarks>
    public void StartReading(FrameBufferPool pool, int frameSize, string threadName)
    {
        var stdout = _stdout ?? throw new InvalidOperationException("The source is not started.");
        _frames = Channel.CreateBounded<FrameBuffer>(new BoundedChannelOptions(2)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
            AllowSynchronousContinuations = true,
        });
        var frames = _frames;
        _reader = new Thread(() => ReadLoop(stdout, pool, frameSize, frames)) { IsBackground = true, Name = threadName };
        _reader.Start();
    }

    /// <summary>The next frame (the caller owns the buffer), or null at the end of the stream.</summary>
    public async ValueTask<FrameBuffer?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        var frames = _frames ?? throw new InvalidOperationException("Reading is not started.");
        try
        {
            return await frames.Reader.ReadAsync(cancellationToken);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
        catch (OperationCanceledException)
        {
            // A cancelled read continues on the thread that cancelled (the watchdog's timer, or whoever stops the host):
            // leave it for the thread pool before the caller goes on to kill and dispose.
            await Task.Yield();
            throw;
        }
    }

    private static void ReadLoop(Stream stdout, FrameBufferPool pool, int frameSize, Channel<FrameBuffer> channel)
    {
        var frames = channel.Writer;
        try
        {
            while (true)
            {
                var buffer = pool.Rent(frameSize);
                try
                {
                    ReadFrame(stdout, buffer.Span);
                }
                catch
                {
                    buffer.Release();
                    throw;
                }

                if (!frames.TryWrite(buffer))
                {
                    // The consumer is behind: wait for room (blocking this thread, and through the pipe, ffmpeg).
                    if (!frames.WaitToWriteAsync().AsTask().GetAwaiter().GetResult() || !frames.TryWrite(buffer))
                    {
                        buffer.Release();
                        return;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or ObjectDisposedException or OperationCanceledException)
        {
            // the end of the stream, or the process was killed
        }
        finally
        {
            // Completed from the thread pool, not here: the reader's continuation would run on this thread (see
            // StartReading), and what follows the end of a stream (waiting for ffmpeg to exit, disposing this source,
            // which joins this thread) must not.
            ThreadPool.UnsafeQueueUserWorkItem(static w => w.TryComplete(), frames, preferLocal: false);
        }
    }

    /// <summary>Fills <paramref name="frame"/> from the pipe, each read asking for the rest of the frame.</summary>
    internal static void ReadFrame(Stream stdout, Span<byte> frame)
    {
        var filled = 0;
        while (filled < frame.Length)
        {
            var n = stdout.Read(frame[filled..]);
            if (n == 0)
            {
                throw new EndOfStreamException();
            }

            filled += n;
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
        if (_frames is { } frames)
        {
            // The reader thread ends with the process (end of stream); take back what it read but nobody took.
            frames.Writer.TryComplete();
            if (_reader is { } reader && reader != Thread.CurrentThread)
            {
                reader.Join(TimeSpan.FromSeconds(5));
            }

            while (frames.Reader.TryRead(out var left))
            {
                left.Release();
            }
        }

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
