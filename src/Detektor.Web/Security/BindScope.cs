using System.Net;

namespace Detektor.Web.Security;

/// <summary>Whether the addresses a server listens on are all loopback (127.0.0.0/8, ::1, localhost).</summary>
public static class BindScope
{
    public static bool IsLoopbackOnly(IEnumerable<string> addresses)
    {
        var any = false;
        foreach (var address in addresses)
        {
            any = true;
            if (!IsLoopback(address))
            {
                return false;
            }
        }

        return any;
    }

    public static bool IsLoopback(string address)
    {
        // "http://*:8080" and "http://+:8080" do not parse as URIs; they (and 0.0.0.0, [::]) mean every interface.
        if (!Uri.TryCreate(address.Replace("://*", "://any-host", StringComparison.Ordinal).Replace("://+", "://any-host", StringComparison.Ordinal), UriKind.Absolute, out var uri))
        {
            return false;
        }

        if (string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }
}
