using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Detektor.Api.Http;

/// <summary>Reads query-string parameters defensively: each problem becomes a field error, never an exception or a SQL error.</summary>
public static class QueryParameters
{
    public const int MaxLength = 256;

    /// <summary>The parameter's single value, or null when absent or empty; an error when repeated or too long.</summary>
    public static string? One(IQueryCollection query, string name, FieldErrors errors)
    {
        if (!query.TryGetValue(name, out var values) || values.Count == 0)
        {
            return null;
        }

        if (values.Count > 1)
        {
            errors.Add(name, "must be given once.");
            return null;
        }

        var value = values[0];
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.Length > MaxLength)
        {
            errors.Add(name, "is too long.");
            return null;
        }

        return value;
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when absent.</summary>
    public static int WholeNumber(IQueryCollection query, string name, int fallback, int min, int max, FieldErrors errors)
    {
        if (One(query, name, errors) is not { } text)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            errors.Add(name, string.Create(CultureInfo.InvariantCulture, $"must be a whole number from {min} to {max}."));
            return fallback;
        }

        return value;
    }

    /// <summary>An ISO 8601 date and time between 1970 and 9998 (UTC when no offset is given).</summary>
    public static DateTimeOffset? Time(string? text, string field, FieldErrors errors)
    {
        if (text is null)
        {
            return null;
        }

        if (!DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind | DateTimeStyles.AssumeUniversal, out var value) ||
            value < DateTimeOffset.UnixEpoch || value.Year > 9998)
        {
            errors.Add(field, "must be an ISO 8601 date and time between 1970 and 9998, e.g. 2026-11-23T14:00:00Z.");
            return null;
        }

        return value;
    }
}
