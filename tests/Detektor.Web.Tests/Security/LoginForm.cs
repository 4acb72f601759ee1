using System.Net;
using System.Text.RegularExpressions;

namespace Detektor.Web.Tests.Security;

/// <summary>Signs in over HTTP as the login page's form does: antiforgery token from <c>/login</c>, then <c>POST /auth/login</c>.</summary>
internal static partial class LoginForm
{
    public static async Task<HttpResponseMessage> SignInAsync(HttpClient http, string user, string password, string returnUrl) =>
        await http.PostAsync("/auth/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = await AntiforgeryTokenAsync(http),
            ["user"] = user,
            ["password"] = password,
            ["returnUrl"] = returnUrl,
        }), TestContext.Current.CancellationToken);

    public static async Task<string> AntiforgeryTokenAsync(HttpClient http)
    {
        var html = await http.GetStringAsync("/login", TestContext.Current.CancellationToken);
        return TokenPattern().Match(html) is { Success: true } m
            ? WebUtility.HtmlDecode(m.Groups[1].Value)
            : throw new InvalidOperationException("no antiforgery token on /login: " + html);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();
}
