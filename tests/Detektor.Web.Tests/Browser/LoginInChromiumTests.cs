using Detektor.Web.Security;
using Detektor.Web.Tests.Security;

namespace Detektor.Web.Tests.Browser;

/// <summary>A Detektor bound to 0.0.0.0 with a user and the demo camera: the browser must sign in first.</summary>
public sealed class SecuredBrowserFixture : BrowserFixture
{
    protected override string BindHost => "0.0.0.0";

    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings["Detektor:Security:Users:0:Name"] = SecuredHostFixture.User;
        settings["Detektor:Security:Users:0:PasswordHash"] = CredentialHashing.HashPassword(SecuredHostFixture.Password, iterations: 1000);
        settings["Detektor:Security:ApiKeys:0:Name"] = "tests";
        settings["Detektor:Security:ApiKeys:0:Hash"] = CredentialHashing.HashApiKey(SecuredHostFixture.WriteKey);
    }

    protected override HttpClient ProbeClient()
    {
        var http = Host.CreateClient();
        http.DefaultRequestHeaders.Add(AccessControl.ApiKeyHeader, SecuredHostFixture.WriteKey);
        return http;
    }
}

public sealed class LoginInChromiumTests(SecuredBrowserFixture fixture) : IClassFixture<SecuredBrowserFixture>
{
    [Fact]
    public async Task SystemPage_NonLoopbackBind_AsksForLoginThenShowsPageAndLiveFrame()
    {
        await using var sut = await PageSession.OpenAsync(fixture);
        await sut.Page.GotoAsync("/system");
        await sut.NavigatedToAsync("**/login?returnUrl=%2Fsystem");
        await sut.ScreenshotAsync("login");

        await sut.Page.Locator("#user").FillAsync(SecuredHostFixture.User);
        await sut.Page.Locator("#password").FillAsync("not the password");
        await sut.Page.Locator("#password").PressAsync("Enter");
        await sut.NavigatedToAsync("**/login?error=1*");
        Assert.Contains("wrong password", await sut.Page.Locator("[role=alert]").InnerTextAsync(), StringComparison.Ordinal);

        await sut.Page.Locator("#user").FillAsync(SecuredHostFixture.User);
        await sut.Page.Locator("#password").FillAsync(SecuredHostFixture.Password);
        await sut.Page.Locator("#password").PressAsync("Enter");
        await sut.NavigatedToAsync("**/system");
        Assert.Contains(await sut.Page.Locator("[data-testid=overall-health]").InnerTextAsync(), new[] { "healthy", "degraded" });

        // The live image is an /api URL: the login cookie opens it too.
        await sut.Page.GotoAsync("/");
        await sut.Page.WaitForFunctionAsync("() => { const i = document.querySelector('img.live'); return i && i.complete && i.naturalWidth > 0; }");

        await sut.Page.Locator("form.logout button").ClickAsync();
        await sut.NavigatedToAsync("**/login");
        await sut.Page.GotoAsync("/frames");
        await sut.NavigatedToAsync("**/login?returnUrl=%2Fframes");

        // The only failures the browser may log are the ones it was meant to get: none.
        sut.AssertNoErrors();
    }
}
