using Microsoft.AspNetCore.Http;

namespace Detektor.Web.Security;

/// <summary>
/// Security headers on every response: a content security policy that allows only this origin's scripts, styles and
/// images, and no framing (<c>frame-ancestors 'none'</c>), plus <c>X-Content-Type-Options: nosniff</c>, no referrer, and
/// <c>X-Frame-Options: DENY</c> for old browsers.
/// </summary>
public sealed class SecurityHeadersMiddleware(RequestDelegate next)
{
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

    public Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(static state =>
        {
            var headers = ((HttpContext)state).Response.Headers;
            headers.ContentSecurityPolicy = ContentSecurityPolicy;
            headers.XContentTypeOptions = "nosniff";
            headers.XFrameOptions = "DENY";
            headers["Referrer-Policy"] = "no-referrer";
            return Task.CompletedTask;
        }, context);
        return next(context);
    }
}
