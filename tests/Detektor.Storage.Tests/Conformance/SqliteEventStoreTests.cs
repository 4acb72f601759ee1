using Detektor.Storage.Abstractions;
using Detektor.Storage.Sqlite;
using Detektor.Testing;

namespace Detektor.Storage.Tests.Conformance;

/// <summary>The conformance suite on a SQLite file.</summary>
public sealed class SqliteEventStoreTests : EventStoreConformanceTests, IDisposable
{
    private readonly TempDirectory _dir = new("detektor-sqlite");

    protected override Task<IEventStore> CreateEmptyStoreAsync() =>
        Task.FromResult<IEventStore>(new SqliteEventStore(_dir.Combine($"{Guid.NewGuid():N}.db")));

    protected override IEventStore Reopen(IEventStore store) => new SqliteEventStore(((SqliteEventStore)store).Path);

    public void Dispose() => _dir.Dispose();
}
