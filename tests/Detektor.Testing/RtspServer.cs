using System.Diagnostics;
using System.Text;

namespace Detektor.Testing;

/// <summary>What an <see cref="RtspServer"/> serves.</summary>
public abstract record RtspSource
{
    /// <summary>H.264 demuxed from an MP4 file (not re-encoded), played once at its native rate per client.</summary>
    public sealed record Mp4File(string Path) : RtspSource;

    /// <summary>A live moving test pattern encoded with x264.</summary>
    public sealed record TestPattern(int Width = 320, int Height = 240, int Fps = 10) : RtspSource;
}

/// <summary>
/// Debian's gst-rtsp-server on 127.0.0.1, started through <c>rtsp-server.py</c> (shipped beside this assembly) with
/// <c>/usr/bin/python3</c> + python3-gi. It can be stopped (killed, like a camera losing power) and started again on the
/// same port mid-test. Skips — or fails when <c>DETEKTOR_REQUIRE_TOOLS=1</c> — when the server cannot run here.
/// </summary>
public sealed class RtspServer : IAsyncDisposable
{
    public const string Python = "/usr/bin/python3";
    private static readonly Lazy<string?> Missing = new(ProbeMissing);

    private readonly RtspSource _source;
    private readonly string? _user;
    private readonly string? _password;
    private readonly StringBuilder _output = new();
    private Process? _process;

    private RtspServer(RtspSource source, int port, string path, string? user, string? password)
    {
        _source = source;
        Port = port;
        Path = path;
        _user = user;
        _password = password;
    }

    public int Port { get; }

    public string Path { get; }

    /// <summary>The stream URL without credentials.</summary>
    public string Url => $"rtsp://127.0.0.1:{Port}{Path}";

    /// <summary>How often the server was started.</summary>
    public int Starts { get; private set; }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything the launcher printed (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The stream URL with <paramref name="user"/>:<paramref name="password"/> in it.</summary>
    public string UrlWith(string user, string password) => $"rtsp://{user}:{password}@127.0.0.1:{Port}{Path}";

    /// <summary>Creates a server on a free port (not started); skips or fails when gst-rtsp-server cannot run here.</summary>
    public static RtspServer Create(RtspSource source, string path = "/stream", string? user = null, string? password = null)
    {
        if (Missing.Value is { } why)
        {
            var message = $"The RTSP test server cannot run: {why} (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly, or run ./test.sh).";
            if (RequiredTool.Required)
            {
                Xunit.Assert.Fail(message + $" {RequiredTool.RequireVariable}=1, so this is a failure, not a skip.");
            }

            Xunit.Assert.Skip(message);
        }

        return new RtspServer(source, FreePort.Next(), path, user, password);
    }

    /// <summary>Starts the server and waits until it listens.</summary>
    public async Task StartAsync(TimeSpan? timeout = null)
    {
        if (IsRunning)
        {
            return;
        }

        var info = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(System.IO.Path.Combine(AppContext.BaseDirectory, "rtsp-server.py"));
        info.ArgumentList.Add("--port");
        info.ArgumentList.Add(Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        info.ArgumentList.Add("--path");
        info.ArgumentList.Add(Path);
        switch (_source)
        {
            case RtspSource.Mp4File file:
                info.ArgumentList.Add("--file");
                info.ArgumentList.Add(file.Path);
                break;
            case RtspSource.TestPattern pattern:
                info.ArgumentList.Add("--test");
                info.ArgumentList.Add("--width");
                info.ArgumentList.Add(pattern.Width.ToString(System.Globalization.CultureInfo.InvariantCulture));
                info.ArgumentList.Add("--height");
                info.ArgumentList.Add(pattern.Height.ToString(System.Globalization.CultureInfo.InvariantCulture));
                info.ArgumentList.Add("--fps");
                info.ArgumentList.Add(pattern.Fps.ToString(System.Globalization.CultureInfo.InvariantCulture));
                break;
        }

        if (_user is not null)
        {
            info.ArgumentList.Add("--user");
            info.ArgumentList.Add(_user);
            info.ArgumentList.Add("--password");
            info.ArgumentList.Add(_password ?? string.Empty);
        }

        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            Append(e.Data);
            if (e.Data.StartsWith("READY ", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                Append(e.Data);
            }
        };
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"The RTSP server exited before it was ready: {Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        Starts++;
        await ready.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(30));
    }

    /// <summary>Freezes the server (SIGSTOP): connections stay open but nothing more is sent — a camera that hangs.</summary>
    public Task PauseAsync() => SignalAsync("-STOP");

    /// <summary>Lets a paused server go on (SIGCONT).</summary>
    public Task ResumeAsync() => SignalAsync("-CONT");

    /// <summary>Kills the server at once (SIGKILL: connections drop, like a camera losing power).</summary>
    public async Task StopAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        _process = null;
        try
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        finally
        {
            process.Dispose();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task SignalAsync(string signal)
    {
        if (_process is not { HasExited: false } process)
        {
            throw new InvalidOperationException("The RTSP server is not running.");
        }

        using var kill = Process.Start(new ProcessStartInfo("kill")
        {
            ArgumentList = { signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            UseShellExecute = false,
        })!;
        await kill.WaitForExitAsync();
    }

    private void Append(string line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private static string? ProbeMissing()
    {
        if (!File.Exists(Python))
        {
            return $"{Python} is missing";
        }

        try
        {
            using var probe = Process.Start(new ProcessStartInfo(Python)
            {
                ArgumentList = { "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            var error = probe.StandardError.ReadToEnd();
            probe.WaitForExit();
            return probe.ExitCode == 0 ? null : $"python3-gi with GstRtspServer is not importable ({error.Trim()})";
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return ex.Message;
        }
    }
}
