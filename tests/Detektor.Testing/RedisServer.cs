using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Detektor.Testing;

/// <summary>
/// A real <c>redis-server</c> for one test (or fixture): loopback, a free port, a temp directory, AOF on (fsync
/// <c>always</c> by default, so what Redis acknowledged survives even <see cref="KillAsync"/>). It can be stopped,
/// killed and started again on the same port and data. Skips (or fails in CI) when redis-server is not installed.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("detektor-redis");
    private readonly string _binary;
    private readonly string _fsync;
    private Process? _process;

    private RedisServer(string binary, int port, string fsync)
    {
        _binary = binary;
        Port = port;
        _fsync = fsync;
    }

    public int Port { get; }

    /// <summary><c>127.0.0.1:{port}</c>: the StackExchange.Redis configuration and the <c>--redis</c> argument.</summary>
    public string Endpoint => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public string DataDirectory => _dir.Path;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Starts a fresh server. <paramref name="appendFsync"/>: <c>always</c> (default) or <c>everysec</c>.</summary>
    public static async Task<RedisServer> StartAsync(string appendFsync = "always")
    {
        var server = Create(appendFsync);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>A server on a reserved port that is not started yet (for "Redis is down at start" tests).</summary>
    public static RedisServer Create(string appendFsync = "always") =>
        new(RequiredTool.Find("redis-server"), FreePort.Next(), appendFsync);

    /// <summary>Starts (or restarts after a stop or kill) on the same port and data directory; waits until it answers PING.</summary>
    public async Task StartAgainAsync()
    {
        if (IsRunning)
        {
            return;
        }

        var start = new ProcessStartInfo(_binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", string.Empty,
                     "--appendonly", "yes", "--appendfsync", _fsync, "--dir", _dir.Path, "--daemonize", "no", "--protected-mode", "no",
                     "--loglevel", "warning",
                 })
        {
            start.ArgumentList.Add(arg);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.WaitAsync(async () => await PingAsync(), ok => ok, TimeSpan.FromSeconds(30), $"redis-server on port {Port} to answer PING");
    }

    /// <summary>SHUTDOWN (the AOF is flushed), then waits for the process to exit.</summary>
    public async Task StopAsync()
    {
        if (!IsRunning)
        {
            return;
        }

        try
        {
            await CommandAsync("SHUTDOWN");
        }
        catch (IOException)
        {
        }
        catch (SocketException)
        {
        }

        await WaitForExitAsync();
    }

    /// <summary>SIGKILL: no shutdown, no flush beyond what fsync already wrote.</summary>
    public async Task KillAsync()
    {
        if (!IsRunning)
        {
            return;
        }

        _process!.Kill();
        await WaitForExitAsync();
    }

    public async Task<bool> PingAsync()
    {
        try
        {
            return (await CommandAsync("PING")).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or SocketException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Sends one inline command and returns the first line of the reply (for probing, not for data).</summary>
    public async Task<string> CommandAsync(string command)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await client.ConnectAsync("127.0.0.1", Port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), timeout.Token);
        var buffer = new byte[4096];
        var read = await stream.ReadAsync(buffer, timeout.Token);
        var text = Encoding.ASCII.GetString(buffer, 0, read);
        var end = text.IndexOf("\r\n", StringComparison.Ordinal);
        return end < 0 ? text : text[..end];
    }

    public async ValueTask DisposeAsync()
    {
        if (IsRunning)
        {
            _process!.Kill();
            await WaitForExitAsync();
        }

        _process?.Dispose();
        _dir.Dispose();
    }

    private async Task WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process!.WaitForExitAsync(timeout.Token);
    }
}

/// <summary>
/// One redis-server shared by the tests of a class (<c>IClassFixture&lt;RedisFixture&gt;</c>), started on first use so a
/// missing binary skips the test (or fails it in CI) instead of breaking the fixture. Give each test its own key prefix.
/// </summary>
public sealed class RedisFixture : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private RedisServer? _server;

    public async Task<RedisServer> ServerAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_server is null)
            {
                _server = await RedisServer.StartAsync();
            }
            else if (!_server.IsRunning)
            {
                await _server.StartAgainAsync();
            }

            return _server;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A key prefix no other test uses.</summary>
    public static string UniquePrefix() => $"t{Guid.NewGuid():N}"[..13] + ":";

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _gate.Dispose();
    }
}
