namespace Detektor.Testing;

/// <summary>The real footage fetched by scripts/setup.sh (Debian's opencv-doc): env DETEKTOR_FOOTAGE or &lt;repo&gt;/.cache/footage.</summary>
public static class Footage
{
    public static string Directory
    {
        get
        {
            var fromEnv = Environment.GetEnvironmentVariable("DETEKTOR_FOOTAGE");
            if (!string.IsNullOrEmpty(fromEnv))
            {
                return fromEnv;
            }

            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Detektor.slnx")))
            {
                dir = dir.Parent;
            }

            return Path.Combine(dir?.FullName ?? ".", ".cache", "footage");
        }
    }

    /// <summary>The path of a footage file; skips (or fails in CI) when it has not been fetched.</summary>
    public static string Get(string name) =>
        RequiredTool.RequireFile(Path.Combine(Directory, name), "run scripts/setup.sh test (or ./test.sh) to fetch the footage");
}
