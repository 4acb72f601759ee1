using System.Text.RegularExpressions;

namespace Detektor.Core.Security;

/// <summary>
/// Masks secrets in any text that may leave the process (logs, metrics, spans, API output, errors, ffmpeg's stderr):
/// the password of <c>scheme://user:password@host</c> URLs, and the values of query parameters and key=value pairs whose
/// names say they are secret (password, pass, pwd, token, access_token, api_key, apikey, key, secret, auth, signature, sig).
/// </summary>
public static partial class SecretMasker
{
    public const string Mask = "***";

    /// <summary>Masks every secret in <paramref name="text"/>; returns the same instance when there is nothing to mask.</summary>
    public static string MaskSecrets(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        var masked = UserInfo().Replace(text, static m => m.Groups["user"].Value.Length > 0 || m.Groups["pass"].Value.Length > 0
            ? $"{m.Groups["scheme"].Value}{m.Groups["user"].Value}:{Mask}@"
            : m.Value);
        masked = SecretParameter().Replace(masked, static m => $"{m.Groups["name"].Value}{m.Groups["sep"].Value}{Mask}");
        return masked;
    }

    /// <summary>True when <paramref name="text"/> contains something <see cref="MaskSecrets"/> would mask.</summary>
    public static bool ContainsSecret(string? text) =>
        !string.IsNullOrEmpty(text) && !ReferenceEquals(text, MaskSecrets(text)) && !string.Equals(text, MaskSecrets(text), StringComparison.Ordinal);

    // scheme://user:password@ — the password may contain anything but '@', '/', and whitespace.
    [GeneratedRegex(@"(?<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?<user>[^:@/\s]*):(?<pass>[^@/\s]+)@", RegexOptions.CultureInvariant)]
    private static partial Regex UserInfo();

    // ?token=…, &password=…, also "password=…" in free text; stops at &, whitespace, quotes and separators.
    [GeneratedRegex(
        @"(?<name>\b(?:password|passwd|pass|pwd|token|access_token|auth_token|api_key|apikey|api-key|key|secret|client_secret|auth|signature|sig))(?<sep>=|%3D)(?!\*\*\*)[^&\s""'<>;,]+",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SecretParameter();
}
