using System.Net.Sockets;

namespace Detektor.Testing;

/// <summary>
/// A TCP server on 127.0.0.1 that accepts connections and never sends a byte (a camera that hangs after accepting). The
/// connections stay open until it is disposed.
/// </summary>
public sealed class SilentTcpServer : LoopbackTcpServer
{
    private readonly List<TcpClient> _clients = [];

    public SilentTcpServer() => StartAccepting();

    protected override Task OnClientAsync(TcpClient client)
    {
        lock (_clients)
        {
            _clients.Add(client);
        }

        return Task.CompletedTask;
    }

    protected override ValueTask OnStoppedAsync()
    {
        lock (_clients)
        {
            foreach (var client in _clients)
            {
                client.Dispose();
            }
        }

        return ValueTask.CompletedTask;
    }
}
