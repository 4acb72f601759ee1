using Detektor.Storage.Sqlite;
using Detektor.Testing;

namespace Detektor.Storage.Tests.Sqlite;

public sealed class SqliteStoreSettingsTests : IDisposable
{
    private readonly TempDirectory _dir = new("detektor-sqlite-settings");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Open_Defaults_SmallWriterCacheAndNoMapping()
    {
        using var sut = new SqliteEventStore(_dir.Combine("defaults.db"));
        await sut.MigrateAsync(TestContext.Current.CancellationToken);

        var (cache, mmap) = await sut.ReadMemoryPragmasAsync(TestContext.Current.CancellationToken);

        Assert.Equal(32 * 1024, cache);
        Assert.Equal(0, mmap);
    }

    [Fact]
    public async Task Open_Settings_ReachTheConnections()
    {
        using var sut = new SqliteEventStore(_dir.Combine("set.db"), settings: new SqliteStoreSettings { CacheMegabytes = 8, MmapMegabytes = 64 });
        await sut.MigrateAsync(TestContext.Current.CancellationToken);

        var (cache, mmap) = await sut.ReadMemoryPragmasAsync(TestContext.Current.CancellationToken);

        Assert.Equal(8 * 1024, cache);
        Assert.Equal(64L * 1024 * 1024, mmap);
    }

    [Fact]
    public void Open_NoCache_IsRefused()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new SqliteEventStore(_dir.Combine("bad.db"), settings: new SqliteStoreSettings { CacheMegabytes = 0 }));

        Assert.Contains("CacheMegabytes", ex.Message, StringComparison.Ordinal);
    }
}
