using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Detektor.Web.Security;

/// <summary>
/// Hashes kept in settings instead of secrets. API keys are 256-bit random values, so one SHA-256 suffices (no brute
/// force can reach them); passwords are chosen by people, so they get PBKDF2-HMAC-SHA256 with a random salt.
/// </summary>
public static class CredentialHashing
{
    public const string KeyPrefix = "sha256:";
    public const string PasswordPrefix = "pbkdf2-sha256";
    public const int DefaultIterations = 600_000;
    public const int MinIterations = 1_000;
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    /// <summary>A new API key: <c>dk_</c> and 43 base64url characters (256 random bits).</summary>
    public static string NewApiKey() => "dk_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string HashApiKey(string key) =>
        KeyPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool TryParseKeyHash(string? text, [NotNullWhen(true)] out byte[]? hash)
    {
        hash = null;
        if (text is null || !text.StartsWith(KeyPrefix, StringComparison.Ordinal) || text.Length != KeyPrefix.Length + 64)
        {
            return false;
        }

        try
        {
            hash = Convert.FromHexString(text.AsSpan(KeyPrefix.Length));
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The SHA-256 of a presented key, to compare in constant time with the configured hashes.</summary>
    public static byte[] KeyDigest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public static string HashPassword(string password, int iterations = DefaultIterations)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return string.Create(CultureInfo.InvariantCulture, $"{PasswordPrefix}:{iterations}:{Convert.ToBase64String(salt)}:{Convert.ToBase64String(hash)}");
    }

    public static bool IsPasswordHash(string? text) => TryParsePasswordHash(text, out _, out _, out _);

    public static bool VerifyPassword(string password, string stored)
    {
        if (!TryParsePasswordHash(stored, out var iterations, out var salt, out var expected))
        {
            return false;
        }

        var actual = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    private static bool TryParsePasswordHash(string? text, out int iterations, [NotNullWhen(true)] out byte[]? salt, [NotNullWhen(true)] out byte[]? hash)
    {
        iterations = 0;
        salt = hash = null;
        var parts = text?.Split(':');
        if (parts is not { Length: 4 } || parts[0] != PasswordPrefix ||
            !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations < MinIterations)
        {
            return false;
        }

        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
            return salt.Length >= 8 && hash.Length >= 16;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
