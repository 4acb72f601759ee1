using System.ComponentModel;
using System.Diagnostics;
using System.IO.Pipes;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Detektor.Core.Buffers;

namespace Detektor.Capture.Ffmpeg;

/// <summary>
/// One ffmpeg child process writing raw frames on its stdout; its stderr goes to an <see cref="FfmpegStderr"/> (log,
/// masking, decode-error counting). Frames are read by a dedicated thread with blocking reads straight into pooled buffers
/// (a third of the CPU of asynchronous pipe reads, measured: docs/performance.md) and handed over through a queue of
/// two. Disposing kills the process if it still runs and returns undelivered buffers to the pool.
/// </summary>
public sealed partial class FfmpegFrameSource : IAsyncDisposable
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
    public void StartReading(FrameBufferPool pool, int frameSize, string threadName)
    {
        var stdout = _stdout ?? throw new InvalidOperationException("The source is not started.");
        _frames = Channel.CreateBounded<FrameBuffer>(new BoundedChannelOptions(2)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = true,
        });
        var writer = _frames.Writer;
        PipeBytes = GrowPipe(stdout, frameSize);
        var chunk = ReadChunk(frameSize, PipeBytes);
        _reader = new Thread(() => ReadLoop(stdout, pool, frameSize, chunk, writer)) { IsBackground = true, Name = threadName };
        _reader.Start();
    }

    /// <summary>The capacity of ffmpeg's stdout pipe once reading started (0 when it could not be read).</summary>
    public int PipeBytes { get; private set; }

    /// <summary>
    /// Linux: grows the pipe to hold a whole frame (at most 1 MiB, the default <c>/proc/sys/fs/pipe-max-size</c>) so ffmpeg
    /// writes a frame without waiting for the reader, and the reader takes it in a few reads rather than one wake-up per
    /// 64 KiB. Returns the pipe's size afterwards (unchanged where the OS refuses; 0 off Linux).
    /// </summary>
    private static int GrowPipe(Stream stdout, int frameSize)
    {
        if (!OperatingSystem.IsLinux() || stdout is not PipeStream pipe)
        {
            return 0;
        }

        try
        {
            var fd = (int)pipe.SafePipeHandle.DangerousGetHandle();
            var want = (int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)frameSize), MaxPipeBytes);
            var current = NativeMethods.Fcntl(fd, FGetPipeSize, 0);
            if (current > 0 && current < want)
            {
                var grown = NativeMethods.Fcntl(fd, FSetPipeSize, want);
                return grown > 0 ? grown : current;
            }

            return Math.Max(current, 0);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or ObjectDisposedException)
        {
            return 0;
        }
    }

    private const int FSetPipeSize = 1031; // F_SETPIPE_SZ
    private const int FGetPipeSize = 1032; // F_GETPIPE_SZ
    private const long MaxPipeBytes = 1 << 20;

    private static partial class NativeMethods
    {
        [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
        public static partial int Fcntl(int fd, int command, int argument);
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
    }

    private static void ReadLoop(Stream stdout, FrameBufferPool pool, int frameSize, int chunk, ChannelWriter<FrameBuffer> frames)
    {
        try
        {
            while (true)
            {
                var buffer = pool.Rent(frameSize);
                try
                {
                    ReadFrame(stdout, buffer.Span, chunk);
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
            frames.TryComplete();
        }
    }

    /// <summary>
    /// At most this many bytes per <c>read</c>, as <c>cat</c> reads, while a whole frame fits in the pipe. Measured against
    /// one read of the whole frame, side by side on the same stream (640×480 yuv420p in a 1 MiB pipe; docs/performance.md,
    /// "Capture"): the capture process and its ffmpeg both used less CPU.
    /// </summary>
    internal const int ReadChunkBytes = 128 * 1024;

    /// <summary>
    /// The most one read asks for: <see cref="ReadChunkBytes"/> when a frame fits in the pipe (so ffmpeg has written it
    /// whole before the reader wakes); else the whole frame, as before that measurement — with a frame larger than the
    /// pipe, ffmpeg waits for room, and small reads would wake it once per piece.
    /// </summary>
    internal static int ReadChunk(int frameSize, int pipeBytes) => pipeBytes >= frameSize ? Math.Min(ReadChunkBytes, frameSize) : frameSize;

    /// <summary>Fills <paramref name="frame"/> from the pipe in reads of at most <paramref name="chunk"/> bytes.</summary>
    internal static void ReadFrame(Stream stdout, Span<byte> frame, int chunk)
    {
        var filled = 0;
        while (filled < frame.Length)
        {
            var n = stdout.Read(frame.Slice(filled, Math.Min(chunk, frame.Length - filled)));
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
            _reader?.Join(TimeSpan.FromSeconds(5));
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
