namespace Detektor.Composition;

/// <summary>The roles one process can take; all-in-one takes all four.</summary>
[Flags]
public enum Roles
{
    None = 0,
    Capture = 1,
    Process = 2,
    Store = 4,
    Api = 8,
    All = Capture | Process | Store | Api,
}

public static class RoleNames
{
    public static readonly IReadOnlyList<string> All = ["capture", "process", "store", "api"];

    /// <summary>Parses "capture,process" (any order, any case); an unknown name gives an error naming the allowed ones.</summary>
    public static bool TryParse(string? text, out Roles roles, out string? error)
    {
        roles = Roles.None;
        error = null;
        if (string.IsNullOrWhiteSpace(text) || string.Equals(text.Trim(), "all", StringComparison.OrdinalIgnoreCase))
        {
            roles = Roles.All;
            return true;
        }

        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            roles |= part.ToLowerInvariant() switch
            {
                "capture" => Roles.Capture,
                "process" => Roles.Process,
                "store" => Roles.Store,
                "api" => Roles.Api,
                "all" => Roles.All,
                _ => Roles.None,
            };
            if (!All.Contains(part.ToLowerInvariant()) && !string.Equals(part, "all", StringComparison.OrdinalIgnoreCase))
            {
                error = $"--roles: '{part}' is not a role; allowed: all, {string.Join(", ", All)} (comma-separated).";
                return false;
            }
        }

        return true;
    }

    public static string ServiceName(Roles roles) => roles == Roles.All
        ? "detektor"
        : "detektor-" + string.Join('-', All.Where((_, i) => roles.HasFlag((Roles)(1 << i))));
}
