using System.Net;
using System.Net.Sockets;

namespace Detektor.Testing;

/// <summary>A TCP listener on 127.0.0.1 (free port) that hands every accepted connection to <see cref="OnClientAsync"/>.</summary>
public abstract class LoopbackTcpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private Task? _accepting;
    private int _accepted;

    protected LoopbackTcpServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    public int Port { get; }

    /// <summary>Connections accepted so far.</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Cancelled when the server stops.</summary>
    protected CancellationToken Stopping => _stop.Token;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            if (_accepting is not null)
            {
                await _accepting;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await OnStoppedAsync();
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts accepting (call at the end of the derived constructor).</summary>
    protected void StartAccepting() => _accepting = AcceptAsync();

    /// <summary>Serves one connection (runs concurrently with the others).</summary>
    protected abstract Task OnClientAsync(TcpClient client);

    protected virtual ValueTask OnStoppedAsync() => ValueTask.CompletedTask;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            Interlocked.Increment(ref _accepted);
            _ = OnClientAsync(client);
        }
    }
}
