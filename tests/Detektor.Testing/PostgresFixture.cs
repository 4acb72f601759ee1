namespace Detektor.Testing;

/// <summary>
/// One throwaway PostgreSQL server shared by a test assembly (register it with
/// <c>[assembly: AssemblyFixture(typeof(PostgresFixture))]</c>), started on first use so that a missing binary skips only
/// the tests that need it; each test takes its own database. Tests that stop the server start their own.
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

    /// <summary>A fresh, empty database on the shared server; returns its connection string.</summary>
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
