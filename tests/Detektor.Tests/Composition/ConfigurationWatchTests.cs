using Detektor.Composition;
using Detektor.Testing;
using Microsoft.Extensions.Configuration;

namespace Detektor.Tests.Composition;

/// <summary>
/// The working directory is the data directory under systemd and in the load test: a configuration file watcher there
/// would wake for every SQLite write, journal segment and snapshot. Detektor reads its configuration at start.
/// </summary>
public sealed class ConfigurationWatchTests : IDisposable
{
    private readonly TempDirectory _data = new("detektor-config-watch");

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Build_NoConfigurationFileIsWatchedForChanges()
    {
        var settings = new RunSettings { Urls = $"http://127.0.0.1:{FreePort.Next()}", DataDir = _data.Path };

        await using var app = DetektorApp.Build(settings);

        var files = ((IConfigurationRoot)app.Configuration).Providers.OfType<FileConfigurationProvider>().ToList();
        Assert.Contains(files, f => f.Source.Path == "appsettings.json"); // the host's default source is there, but…
        Assert.All(files, f => Assert.False(f.Source.ReloadOnChange, $"{f.Source.Path} is watched for changes"));
    }
}
