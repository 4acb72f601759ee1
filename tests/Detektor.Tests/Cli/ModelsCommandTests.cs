using System.Globalization;
using Detektor.Testing;

namespace Detektor.Tests.Cli;

/// <summary><c>detektor models pull|list</c> as a user runs them (output redirected: plain lines, no progress bar).</summary>
public sealed class ModelsCommandTests
{
    [Fact]
    public async Task PullThenList_SharedCache_BothDefaultModelsInstalledWithChecksumsAndInputShapes()
    {
        var cache = Repository.Cache("DETEKTOR_MODELS", "models");

        // Pulls what is missing (nothing, when another test already did), verifying checksums either way.
        var (pullCode, pulled, pullErr) = await DetektorProcess.RunAsync("models", "pull", "--models-dir", cache);
        var (listCode, listed, _) = await DetektorProcess.RunAsync("models", "list", "--models-dir", cache);

        Assert.True(pullCode == 0, pullErr);
        Assert.Contains("centernet:", pulled, StringComparison.Ordinal);
        Assert.Contains("blazeface:", pulled, StringComparison.Ordinal);
        Assert.Equal(0, listCode);
        var rows = listed.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        var centernet = Assert.Single(rows, r => r[0] == "centernet");
        Assert.True(File.Exists(centernet[1]), centernet[1]);
        Assert.Matches("^[0-9a-f]{64}$", centernet[3]);
        Assert.Contains("512", centernet[4], StringComparison.Ordinal);
        Assert.Equal("installed", centernet[5]);
        Assert.Contains(rows, r => r[0] == "blazeface" && r[5] == "installed");
    }

    [Fact]
    public async Task Pull_RegistryUnreachable_ExitsNonZeroWithOneLineNamingTheRegistry()
    {
        using var empty = new TempDirectory();
        var registry = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FreePort.Next()}/");

        var (code, _, err) = await DetektorProcess.RunAsync("models", "pull", "--models-dir", empty.Path, "--registry", registry);
        var (listCode, listed, _) = await DetektorProcess.RunAsync("models", "list", "--models-dir", empty.Path);

        Assert.Equal(1, code);
        Assert.StartsWith("detektor: ", err, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", err, StringComparison.Ordinal);
        // Nothing was half-written: list says so, and exits 1 (not everything is installed).
        Assert.Equal(1, listCode);
        Assert.Contains("centernet\t", listed, StringComparison.Ordinal);
        Assert.All(listed.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => Assert.EndsWith("not installed (detektor models pull)", l, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Pull_UnknownModel_Exit2NamingTheAllowedOnes()
    {
        var (code, _, err) = await DetektorProcess.RunAsync("models", "pull", "--model", "yolov99");

        Assert.Equal(2, code);
        Assert.Contains("--model: 'yolov99' is not a default model; allowed: centernet, blazeface", err, StringComparison.Ordinal);
    }
}
