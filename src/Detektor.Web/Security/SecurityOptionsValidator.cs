using System.Globalization;
using Microsoft.Extensions.Options;

namespace Detektor.Web.Security;

/// <summary>Checks <see cref="SecurityOptions"/> at start: one line per problem, naming the full key.</summary>
public sealed class SecurityOptionsValidator : IValidateOptions<SecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, SecurityOptions options)
    {
        const string S = SecurityOptions.SectionName;
        var failures = new List<string>();
        var keyNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.ApiKeys.Count; i++)
        {
            var key = options.ApiKeys[i];
            var at = string.Create(CultureInfo.InvariantCulture, $"{S}:ApiKeys:{i}");
            if (string.IsNullOrWhiteSpace(key.Name))
            {
                failures.Add($"{at}:Name: is required (who or what uses the key).");
            }
            else if (!keyNames.Add(key.Name))
            {
                failures.Add($"{at}:Name: '{key.Name}' is used by another key; names must be unique.");
            }

            if (!CredentialHashing.TryParseKeyHash(key.Hash, out _))
            {
                failures.Add($"{at}:Hash: must be '{CredentialHashing.KeyPrefix}' and 64 hex characters (detektor security hash-key); never the key itself.");
            }
        }

        var userNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < options.Users.Count; i++)
        {
            var user = options.Users[i];
            var at = string.Create(CultureInfo.InvariantCulture, $"{S}:Users:{i}");
            if (string.IsNullOrWhiteSpace(user.Name))
            {
                failures.Add($"{at}:Name: is required.");
            }
            else if (!userNames.Add(user.Name))
            {
                failures.Add($"{at}:Name: '{user.Name}' appears twice; user names must be unique.");
            }

            if (!CredentialHashing.IsPasswordHash(user.PasswordHash))
            {
                failures.Add(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{at}:PasswordHash: must be '{CredentialHashing.PasswordPrefix}:ITERATIONS:SALT:HASH' with at least {CredentialHashing.MinIterations} iterations (detektor security hash-password); never the password itself."));
            }
        }

        for (var i = 0; i < options.OpenPaths.Count; i++)
        {
            var path = options.OpenPaths[i];
            if (string.IsNullOrEmpty(path) || path[0] != '/' || path == "/" || path.StartsWith("/api", StringComparison.OrdinalIgnoreCase))
            {
                failures.Add(string.Create(CultureInfo.InvariantCulture, $"{S}:OpenPaths:{i}: '{path}' is not allowed; use a path below '/' outside /api, e.g. /metrics."));
            }
        }

        if (options.SessionMinutes is < 1 or > 60 * 24 * 30)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{S}:SessionMinutes: {options.SessionMinutes} is out of range; allowed 1 to 43200."));
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
