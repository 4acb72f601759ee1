using Detektor.Web.Security;
using Microsoft.Extensions.Time.Testing;

namespace Detektor.Web.Tests.Security;

public sealed class LoginThrottleTests
{
    [Fact]
    public void IsLocked_AfterMaxFailuresWithinWindow_UntilWindowPasses()
    {
        var time = new FakeTimeProvider();
        var sut = new LoginThrottle(time);
        for (var i = 0; i < LoginThrottle.MaxFailures - 1; i++)
        {
            sut.Failed("user:admin");
        }

        Assert.False(sut.IsLocked("user:admin"));
        sut.Failed("USER:ADMIN");
        Assert.True(sut.IsLocked("user:admin"));
        Assert.False(sut.IsLocked("user:other"));

        time.Advance(LoginThrottle.Window - TimeSpan.FromSeconds(1));
        Assert.True(sut.IsLocked("user:admin"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(sut.IsLocked("user:admin"));
    }

    [Fact]
    public void Succeeded_ClearsFailures()
    {
        var sut = new LoginThrottle(new FakeTimeProvider());
        for (var i = 0; i < LoginThrottle.MaxFailures - 1; i++)
        {
            sut.Failed("address:10.0.0.1");
        }

        sut.Succeeded("address:10.0.0.1");
        sut.Failed("address:10.0.0.1");
        Assert.False(sut.IsLocked("address:10.0.0.1"));
    }

    [Fact]
    public async Task Login_AfterFiveWrongPasswords_RefusesEvenTheRightOne()
    {
        var settings = WebHost.NoCamera();
        settings["Detektor:Security:Mode"] = "Required";
        settings["Detektor:Security:Users:0:Name"] = "admin";
        settings["Detektor:Security:Users:0:PasswordHash"] = CredentialHashing.HashPassword("right", iterations: 1000);
        await using var host = new WebHost(settings);
        await host.StartAsync();
        using var http = host.CreateClient();

        for (var i = 0; i < LoginThrottle.MaxFailures; i++)
        {
            using var wrong = await LoginForm.SignInAsync(http, "admin", "wrong", "/");
            Assert.Equal("/login?error=1&returnUrl=%2F", wrong.Headers.Location?.OriginalString);
        }

        using var right = await LoginForm.SignInAsync(http, "admin", "right", "/");
        Assert.Equal("/login?error=locked&returnUrl=%2F", right.Headers.Location?.OriginalString);
        Assert.False(right.Headers.Contains("Set-Cookie") && right.Headers.GetValues("Set-Cookie").Any(c => c.StartsWith("detektor.auth=", StringComparison.Ordinal)));
        Assert.Contains("Too many failed sign-ins", await http.GetStringAsync("/login?error=locked", TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Contains(host.Logs, l => l.Contains("too many failed attempts", StringComparison.Ordinal));
    }
}
