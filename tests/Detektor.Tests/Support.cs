using Detektor.Testing;

[assembly: AssemblyFixture(typeof(Detektor.Tests.PostgresFixture))]

namespace Detektor.Tests;

/// <summary>One throwaway PostgreSQL server for this assembly, started on first use; each test takes its own database.</summary>
public sealed class PostgresFixture : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private PostgresServer? _server;

    public async Task<PostgresServer> GetServerAsync()
    {
        await _gate.WaitAsync();
        try
        {
            return _server ??= await PostgresServer.StartAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _gate.Dispose();
    }
}
