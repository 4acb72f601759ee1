using Detektor.Web.Security;

namespace Detektor.Web.Tests.Security;

/// <summary>A Detektor bound to 0.0.0.0 (a non-loopback bind, reached over 127.0.0.1) with a write key, a read key and a user.</summary>
public sealed class SecuredHostFixture : IAsyncLifetime
{
    public const string WriteKey = "dk_test-write-key-0123456789abcdefghijklmnopqrstuv";
    public const string ReadKey = "dk_test-read-key-0123456789abcdefghijklmnopqrstuvw";
    public const string User = "admin";
    public const string Password = "correct horse battery staple";

    public WebHost Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Security:ApiKeys:0:Name"] = "ci";
        settings["Detektor:Security:ApiKeys:0:Hash"] = CredentialHashing.HashApiKey(WriteKey);
        settings["Detektor:Security:ApiKeys:1:Name"] = "grafana";
        settings["Detektor:Security:ApiKeys:1:Hash"] = CredentialHashing.HashApiKey(ReadKey);
        settings["Detektor:Security:ApiKeys:1:Access"] = "Read";
        settings["Detektor:Security:Users:0:Name"] = User;
        settings["Detektor:Security:Users:0:PasswordHash"] = CredentialHashing.HashPassword(Password, iterations: 1000);
        Host = new WebHost(settings, bindHost: "0.0.0.0");
        await Host.StartAsync();
    }

    public async ValueTask DisposeAsync() => await Host.DisposeAsync();
}
