namespace Detektor.Testing;

/// <summary>Where the repository's shared caches are: an environment variable, else a folder under <c>&lt;repo&gt;/.cache</c>.</summary>
public static class Repository
{
    /// <summary>The folder holding Detektor.slnx above the test binaries (or the current directory).</summary>
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Detektor.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? ".";
        }
    }

    /// <summary><paramref name="environmentVariable"/> when set, else <c>&lt;repo&gt;/.cache/{name}</c>.</summary>
    public static string Cache(string environmentVariable, string name) =>
        Environment.GetEnvironmentVariable(environmentVariable) is { Length: > 0 } fromEnv ? fromEnv : Path.Combine(Root, ".cache", name);
}
