namespace Detektor.Web.Security;

/// <summary>
/// Access control (section <c>Detektor:Security</c>). In <see cref="AuthMode.Auto"/> (default) a process bound only to
/// loopback (127.0.0.1, ::1, localhost) is open, and any other bind requires an API key (header <c>X-Api-Key</c>) for the
/// API and a login for the UI. The probe and metrics paths in <see cref="OpenPaths"/> stay open.
/// </summary>
public sealed class SecurityOptions
{
    public const string SectionName = "Detektor:Security";

    /// <summary><c>Auto</c> (default): required unless every bound URL is loopback; <c>Required</c>: always; <c>Open</c>: never.</summary>
    public AuthMode Mode { get; set; } = AuthMode.Auto;

    /// <summary>API keys, stored as hashes (<c>detektor security hash-key</c> makes a key and its hash).</summary>
    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    /// <summary>UI users, stored as password hashes (<c>detektor security hash-password</c>).</summary>
    public List<UserOptions> Users { get; set; } = [];

    /// <summary>Paths (and everything under them) that need no credentials. Default: the probes and Prometheus metrics.</summary>
    public List<string> OpenPaths { get; set; } = [];

    /// <summary>The open paths when <see cref="OpenPaths"/> is not configured.</summary>
    public static readonly IReadOnlyList<string> DefaultOpenPaths = ["/health", "/ready", "/startup", "/metrics"];

    /// <summary>How long a UI login lasts without activity, in minutes (sliding). Default 480 (8 hours).</summary>
    public int SessionMinutes { get; set; } = 480;

    public IReadOnlyList<string> EffectiveOpenPaths => OpenPaths.Count > 0 ? OpenPaths : DefaultOpenPaths;
}

public enum AuthMode
{
    Auto,
    Required,
    Open,
}

public sealed class ApiKeyOptions
{
    /// <summary>A name for the key (who or what uses it); shown in logs instead of the key.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary><c>sha256:</c> and 64 hex characters: the SHA-256 of the key.</summary>
    public string Hash { get; set; } = string.Empty;

    /// <summary><c>Write</c> (default): every method; <c>Read</c>: GET, HEAD and OPTIONS only (others answer 403).</summary>
    public KeyAccess Access { get; set; } = KeyAccess.Write;
}

public enum KeyAccess
{
    Write,
    Read,
}

public sealed class UserOptions
{
    public string Name { get; set; } = string.Empty;

    /// <summary><c>pbkdf2-sha256:ITERATIONS:SALT:HASH</c> (base64), as printed by <c>detektor security hash-password</c>.</summary>
    public string PasswordHash { get; set; } = string.Empty;
}
