using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;

namespace Detektor.Web.Security;

/// <summary>
/// Every request either passes (access not required, an open path, the login page, UI assets), carries a valid API key
/// (<c>X-Api-Key</c>) or a login cookie, or is refused: 401 ProblemDetails (browsers asking for a page are sent to the
/// login page instead); a read-only key on a write method gets 403. It guards paths, not endpoint metadata, so a new
/// route cannot be left open by forgetting an attribute.
/// </summary>
public sealed partial class AccessControlMiddleware(RequestDelegate next, AccessControl access, IProblemDetailsService problems, ILogger<AccessControlMiddleware> logger)
{
    public const string LoginPath = "/login";
    public const string AuthPath = "/auth";

    public async Task InvokeAsync(HttpContext context)
    {
        if (!access.IsRequired || IsAlwaysOpen(context.Request.Path))
        {
            await next(context);
            return;
        }

        if (context.Request.Headers.TryGetValue(AccessControl.ApiKeyHeader, out var presented))
        {
            var key = presented.Count == 1 && !string.IsNullOrEmpty(presented[0]) ? access.FindKey(presented[0]!) : null;
            if (key is null)
            {
                Log.InvalidApiKey(logger, context.Request.Method, context.Request.Path);
                await RefuseAsync(context, StatusCodes.Status401Unauthorized, "Invalid API key", "The X-Api-Key header does not hold a configured API key.");
                return;
            }

            if (key.Access == KeyAccess.Read && !(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)))
            {
                Log.ReadOnlyKey(logger, key.Name, context.Request.Method, context.Request.Path);
                await RefuseAsync(context, StatusCodes.Status403Forbidden, "Forbidden", $"The API key '{key.Name}' is read-only; {context.Request.Method} needs a key with Access=Write.");
                return;
            }

            context.User = AccessControl.KeyPrincipal(key);
            await next(context);
            return;
        }

        if (context.User.Identity?.IsAuthenticated == true)
        {
            await next(context);
            return;
        }

        if (WantsPage(context.Request))
        {
            var returnUrl = context.Request.PathBase + context.Request.Path + context.Request.QueryString;
            context.Response.Redirect($"{LoginPath}?returnUrl={Uri.EscapeDataString(returnUrl)}");
            return;
        }

        await RefuseAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized", $"This Detektor listens beyond loopback: send an API key in the {AccessControl.ApiKeyHeader} header, or sign in at {LoginPath}.");
    }

    private bool IsAlwaysOpen(PathString path)
    {
        var value = path.Value ?? "/";
        return access.IsOpenPath(value) ||
            path.Equals(LoginPath, StringComparison.OrdinalIgnoreCase) ||
            path.StartsWithSegments(AuthPath + "/login", StringComparison.OrdinalIgnoreCase) ||
            path.StartsWithSegments(WebExtensions.AssetsPath, StringComparison.OrdinalIgnoreCase);
    }

    private static bool WantsPage(HttpRequest request) =>
        HttpMethods.IsGet(request.Method) &&
        !request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) &&
        request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase));

    private async Task RefuseAsync(HttpContext context, int status, string title, string detail)
    {
        context.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers[HeaderNames.WWWAuthenticate] = $"ApiKey header=\"{AccessControl.ApiKeyHeader}\"";
        }

        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
