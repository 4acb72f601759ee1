using System.Globalization;
using Detektor.Core.Security;
using Npgsql;

namespace Detektor.Storage.Postgres;

/// <summary>
/// Connection strings are secrets: this reads them (keyword form <c>Host=…;Password=…</c> or URI form
/// <c>postgresql://user:password@host:5432/db?sslmode=require</c>) and describes them without the password, for logs,
/// errors, /health and the CLI.
/// </summary>
public static class PostgresConnectionString
{
    public const string Example = "Host=HOST;Port=5432;Database=detektor;Username=USER;Password=*** (or postgresql://USER:***@HOST:5432/detektor)";

    /// <summary>Parses either form into a builder; throws <see cref="FormatException"/> with a message free of secrets.</summary>
    public static NpgsqlConnectionStringBuilder Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new FormatException($"is empty; expected {Example}.");
        }

        var trimmed = text.Trim();
        try
        {
            var builder = trimmed.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || trimmed.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
                ? FromUri(trimmed)
                : new NpgsqlConnectionStringBuilder(trimmed);
            if (string.IsNullOrEmpty(builder.Host))
            {
                throw new FormatException($"names no host; expected {Example}.");
            }

            if (string.IsNullOrEmpty(builder.ApplicationName))
            {
                builder.ApplicationName = "detektor";
            }

            return builder;
        }
        catch (Exception ex) when (ex is ArgumentException or UriFormatException or InvalidCastException or OverflowException)
        {
            throw new FormatException($"cannot be read ({SecretMasker.MaskSecrets(ex.Message)}); expected {Example}.", ex);
        }
    }

    /// <summary>Host, port, database and user — never the password. Safe for logs and API output.</summary>
    public static string Describe(string? text)
    {
        try
        {
            return Describe(Parse(text));
        }
        catch (FormatException)
        {
            return "(unreadable connection string)";
        }
    }

    public static string Describe(NpgsqlConnectionStringBuilder builder) =>
        string.Create(CultureInfo.InvariantCulture, $"Host={builder.Host};Port={builder.Port};Database={builder.Database};Username={builder.Username}");

    private static NpgsqlConnectionStringBuilder FromUri(string text)
    {
        var uri = new Uri(text);
        var builder = new NpgsqlConnectionStringBuilder { Host = uri.Host };
        if (uri.Port > 0)
        {
            builder.Port = uri.Port;
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        if (uri.UserInfo.Length > 0)
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? string.Empty : Uri.UnescapeDataString(pair[(eq + 1)..]);
            builder[key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? "SSL Mode" : key] = value;
        }

        return builder;
    }
}
