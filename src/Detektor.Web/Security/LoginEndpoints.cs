using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Detektor.Web.Security;

/// <summary>
/// <c>POST /auth/login</c> and <c>POST /auth/logout</c>: form posts from the UI, both checked against the antiforgery
/// token that the login page and the layout render (a form without it answers 400).
/// </summary>
public static class LoginEndpoints
{
    public static IEndpointRouteBuilder MapLogin(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost(AccessControlMiddleware.AuthPath + "/login", LoginAsync).ExcludeFromDescription();
        endpoints.MapPost(AccessControlMiddleware.AuthPath + "/logout", LogoutAsync).ExcludeFromDescription();
        return endpoints;
    }

    private static async Task<IResult> LoginAsync(
        HttpContext context,
        [FromForm(Name = "user")] string? user,
        [FromForm(Name = "password")] string? password,
        [FromForm(Name = "returnUrl")] string? returnUrl,
        AccessControl access,
        LoginThrottle throttle,
        ILogger<AccessControl> logger)
    {
        var target = IsLocal(returnUrl) ? returnUrl! : "/";
        var name = Clip(user ?? string.Empty);
        var userKey = "user:" + name;
        var addressKey = "address:" + context.Connection.RemoteIpAddress;
        if (throttle.IsLocked(userKey) || throttle.IsLocked(addressKey))
        {
            Log.SignInThrottled(logger, name);
            return Results.Redirect($"{AccessControlMiddleware.LoginPath}?error=locked&returnUrl={Uri.EscapeDataString(target)}");
        }

        var account = user is null ? null : access.Options.Users.Find(u => string.Equals(u.Name, user, StringComparison.OrdinalIgnoreCase));
        if (account is null || password is null || !CredentialHashing.VerifyPassword(password, account.PasswordHash))
        {
            throttle.Failed(userKey);
            throttle.Failed(addressKey);
            Log.SignInRefused(logger, name);
            return Results.Redirect($"{AccessControlMiddleware.LoginPath}?error=1&returnUrl={Uri.EscapeDataString(target)}");
        }

        throttle.Succeeded(userKey);
        throttle.Succeeded(addressKey);

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, account.Name)], CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        Log.SignedIn(logger, account.Name);
        return Results.Redirect(target);
    }

    private static async Task<IResult> LogoutAsync(HttpContext context, [FromForm(Name = "returnUrl")] string? returnUrl)
    {
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Results.Redirect(AccessControlMiddleware.LoginPath);
    }

    /// <summary>Only paths of this site (no <c>//host</c> or <c>/\host</c>), so the login cannot redirect elsewhere.</summary>
    public static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) && !url.Any(char.IsControl);

    private static string Clip(string text) => text.Length <= 64 ? text : text[..64];
}
