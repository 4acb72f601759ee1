using Xunit;

namespace Detektor.Testing;

/// <summary>
/// Finds an external program a test needs (ffmpeg, redis-server, postgres, …). When it is absent the test is skipped with
/// a clear message — unless <c>DETEKTOR_REQUIRE_TOOLS=1</c> (CI sets it), in which case the test fails: in CI nothing is
/// skipped silently.
/// </summary>
public static class RequiredTool
{
    public const string RequireVariable = "DETEKTOR_REQUIRE_TOOLS";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>The full path of <paramref name="name"/> on PATH or in <paramref name="extraDirectories"/>; skips or fails when absent.</summary>
    public static string Find(string name, params string[] extraDirectories)
    {
        var path = TryFind(name, extraDirectories);
        if (path is not null)
        {
            return path;
        }

        var message = $"'{name}' is not installed (apt-get install it, or run ./test.sh which installs everything).";
        if (Required)
        {
            Assert.Fail(message + $" {RequireVariable}=1, so this is a failure, not a skip.");
        }

        Assert.Skip(message);
        return null!;
    }

    public static string? TryFind(string name, params string[] extraDirectories)
    {
        if (name.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(name) ? name : null;
        }

        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Concat(extraDirectories);
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Skips (or, in CI, fails) when a file the test needs is absent (e.g. footage fetched by the setup script).</summary>
    public static string RequireFile(string path, string howToGetIt)
    {
        if (File.Exists(path))
        {
            return path;
        }

        var message = $"'{path}' is missing; {howToGetIt}.";
        if (Required)
        {
            Assert.Fail(message + $" {RequireVariable}=1, so this is a failure, not a skip.");
        }

        Assert.Skip(message);
        return null!;
    }
}
