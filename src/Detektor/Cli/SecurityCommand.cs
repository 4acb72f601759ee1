using System.CommandLine;
using Detektor.Web.Security;

namespace Detektor.Cli;

/// <summary><c>detektor security hash-key|hash-password</c>: makes the hashes that <c>Detektor:Security</c> stores instead of secrets.</summary>
internal static class SecurityCommand
{
    public static Command Create()
    {
        var key = new Argument<string?>("key") { Description = "An existing key to hash; without it a new random key is made.", Arity = ArgumentArity.ZeroOrOne };
        var hashKey = new Command("hash-key", "Make an API key (or hash the given one) and print the hash to put in Detektor:Security:ApiKeys:N:Hash.") { key };
        hashKey.SetAction(async (parse, _) =>
        {
            var value = parse.GetValue(key);
            var made = string.IsNullOrEmpty(value);
            value = made ? CredentialHashing.NewApiKey() : value!;
            if (made)
            {
                await Console.Out.WriteLineAsync($"key:  {value}   (give it to the client; it is shown only now)");
            }

            await Console.Out.WriteLineAsync($"hash: {CredentialHashing.HashApiKey(value)}");
            return 0;
        });

        var iterations = new Option<int>("--iterations")
        {
            Description = "PBKDF2 iterations (more is slower to guess and to sign in).",
            DefaultValueFactory = _ => CredentialHashing.DefaultIterations,
        };
        var hashPassword = new Command("hash-password", "Read a password from the first line of standard input and print its hash for Detektor:Security:Users:N:PasswordHash.") { iterations };
        hashPassword.SetAction(async (parse, ct) =>
        {
            var password = await Console.In.ReadLineAsync(ct);
            if (string.IsNullOrEmpty(password))
            {
                await Console.Error.WriteLineAsync("detektor: security hash-password: give the password on standard input, e.g. read -s P && echo \"$P\" | detektor security hash-password");
                return 2;
            }

            if (parse.GetValue(iterations) is var n && n < CredentialHashing.MinIterations)
            {
                await Console.Error.WriteLineAsync($"detektor: --iterations: at least {CredentialHashing.MinIterations}.");
                return 2;
            }

            await Console.Out.WriteLineAsync(CredentialHashing.HashPassword(password, parse.GetValue(iterations)));
            return 0;
        });

        return new Command("security", "Access control helpers: hash API keys and passwords for the settings.") { hashKey, hashPassword };
    }
}
