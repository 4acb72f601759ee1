using Detektor.Testing;

[assembly: AssemblyFixture(typeof(Detektor.Storage.Tests.Support.PostgresFixture))]

namespace Detektor.Storage.Tests.Support;

/// <summary>
/// One throwaway PostgreSQL server for the whole test assembly, started on first use (so a missing binary skips only the
/// tests that need it); each test takes a fresh database. Tests that stop the server start their own.
/// </summary>
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

    public async Task<string> CreateDatabaseAsync() => await (await GetServerAsync()).CreateDatabaseAsync();

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _gate.Dispose();
    }
}
