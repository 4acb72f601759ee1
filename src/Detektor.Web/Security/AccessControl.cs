using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Detektor.Web.Security;

/// <summary>
/// Decides whether credentials are required (from <see cref="SecurityOptions.Mode"/> and the addresses the server
/// actually listens on) and checks API keys against their configured hashes in constant time.
/// </summary>
public sealed class AccessControl(IOptions<SecurityOptions> options, IServiceProvider services)
{
    public const string ApiKeyHeader = "X-Api-Key";
    public const string ApiKeyAuthenticationType = "ApiKey";

    private readonly SecurityOptions _options = options.Value;
    private readonly (ApiKeyOptions Key, byte[] Hash)[] _keys =
        [.. options.Value.ApiKeys.Select(k => (k, CredentialHashing.TryParseKeyHash(k.Hash, out var h) ? h : []))];

    private bool? _required;

    public SecurityOptions Options => _options;

    /// <summary>True when requests need credentials; in Auto mode decided once, from the server's bound addresses.</summary>
    public bool IsRequired => _required ??= _options.Mode switch
    {
        AuthMode.Required => true,
        AuthMode.Open => false,
        _ => !BindScope.IsLoopbackOnly(BoundAddresses()),
    };

    public bool IsOpenPath(string path)
    {
        foreach (var open in _options.EffectiveOpenPaths)
        {
            if (path.Equals(open, StringComparison.OrdinalIgnoreCase) ||
                (path.StartsWith(open, StringComparison.OrdinalIgnoreCase) && path.Length > open.Length && path[open.Length] == '/'))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The key's settings when <paramref name="presented"/> matches a configured hash; otherwise null.</summary>
    public ApiKeyOptions? FindKey(string presented)
    {
        var digest = CredentialHashing.KeyDigest(presented);
        ApiKeyOptions? found = null;
        foreach (var (key, hash) in _keys)
        {
            // Compare with every key (no early exit), so the time taken says nothing about which key matched.
            if (CryptographicOperations.FixedTimeEquals(digest, hash))
            {
                found = key;
            }
        }

        return found;
    }

    public static ClaimsPrincipal KeyPrincipal(ApiKeyOptions key) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, key.Name), new Claim("access", key.Access.ToString().ToLowerInvariant())], ApiKeyAuthenticationType));

    private IEnumerable<string> BoundAddresses() =>
        services.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
}
