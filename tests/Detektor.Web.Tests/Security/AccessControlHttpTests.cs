using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Detektor.Web.Security;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Web.Tests.Security;

public sealed class AccessControlHttpTests(SecuredHostFixture fixture) : IClassFixture<SecuredHostFixture>
{
    private static readonly string[] OpenProbes = ["/health", "/ready", "/startup", "/metrics"];

    private WebHost Host => fixture.Host;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every route the app maps, with its methods and a concrete path (parameters filled in).</summary>
    private IEnumerable<(string Method, string Path, string Pattern)> AllRoutes()
    {
        var sources = Host.App.Services.GetServices<EndpointDataSource>();
        foreach (var endpoint in sources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>())
        {
            var pattern = endpoint.RoutePattern.RawText ?? string.Empty;
            var path = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(segment =>
                string.Concat(segment.Parts.Select(part => part switch
                {
                    Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal => literal.Content,
                    Microsoft.AspNetCore.Routing.Patterns.RoutePatternSeparatorPart separator => separator.Content,
                    _ => "x1",
                }))));
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            foreach (var method in methods)
            {
                yield return (method, path, pattern);
            }
        }
    }

    private static bool IsOpenByDesign(string path) =>
        OpenProbes.Any(p => path.Equals(p, StringComparison.OrdinalIgnoreCase)) ||
        path.Equals(AccessControlMiddleware.LoginPath, StringComparison.OrdinalIgnoreCase) ||
        path.Equals(AccessControlMiddleware.AuthPath + "/login", StringComparison.OrdinalIgnoreCase);

    [Fact]
    public async Task EveryEndpoint_NoCredentialsOnNonLoopbackBind_Answers401ProblemDetails()
    {
        var routes = AllRoutes().Where(r => !IsOpenByDesign(r.Path)).ToList();
        Assert.Contains(routes, r => r.Path == "/api/v1/frames" && r.Method == "POST");
        Assert.Contains(routes, r => r.Path == "/system");
        Assert.True(routes.Count >= 20, $"only {routes.Count} routes found: {string.Join(", ", routes)}");

        using var http = Host.CreateClient();
        var failures = new List<string>();
        foreach (var (method, path, pattern) in routes)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method is "POST" or "PUT" or "PATCH")
            {
                request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
            }

            using var response = await http.SendAsync(request, Ct);
            var type = response.Content.Headers.ContentType?.MediaType;
            if (response.StatusCode != HttpStatusCode.Unauthorized || type != "application/problem+json")
            {
                failures.Add($"{method} {path} ({pattern}) → {(int)response.StatusCode} {type}");
            }
        }

        Assert.Empty(failures);
    }

    [Fact]
    public async Task OpenPaths_NoCredentials_AreNotRefused()
    {
        using var http = Host.CreateClient();
        foreach (var path in OpenProbes)
        {
            using var response = await http.GetAsync(path, Ct);
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var login = await http.GetAsync("/login", Ct);
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        using var css = await http.GetAsync("/ui/assets/detektor.css", Ct);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
    }

    [Fact]
    public async Task ApiKey_WriteKey_OpensEveryGetAndPost()
    {
        using var http = Host.CreateClient();
        http.DefaultRequestHeaders.Add(AccessControl.ApiKeyHeader, SecuredHostFixture.WriteKey);
        foreach (var path in new[] { "/api/v1/cameras", "/api/v1/frames", "/api/v1/bus", "/api/v1/processors", "/system", "/frames", "/" })
        {
            using var response = await http.GetAsync(path, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} → {(int)response.StatusCode}");
        }

        using var echo = await http.PostAsync("/echo", new StringContent("""{"message":"hi"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.OK, echo.StatusCode);
    }

    [Fact]
    public async Task ApiKey_ReadKeyOnPost_Answers403ProblemDetails()
    {
        using var http = Host.CreateClient();
        http.DefaultRequestHeaders.Add(AccessControl.ApiKeyHeader, SecuredHostFixture.ReadKey);
        using var get = await http.GetAsync("/api/v1/cameras", Ct);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);

        using var post = await http.PostAsync("/echo", new StringContent("""{"message":"hi"}""", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, post.StatusCode);
        Assert.Equal("application/problem+json", post.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await post.Content.ReadAsStringAsync(Ct));
        Assert.Equal(403, problem.RootElement.GetProperty("status").GetInt32());
        Assert.Contains("grafana", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiKey_Unknown_Answers401AndIsNeverLogged()
    {
        const string wrong = "dk_this-key-is-not-configured-anywhere-0123456789";
        using var http = Host.CreateClient();
        http.DefaultRequestHeaders.Add(AccessControl.ApiKeyHeader, wrong);
        using var response = await http.GetAsync("/api/v1/cameras", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("X-Api-Key", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using var ok = new HttpRequestMessage(HttpMethod.Get, "/api/v1/cameras");
        ok.Headers.Add(AccessControl.ApiKeyHeader, SecuredHostFixture.WriteKey);
        using var okResponse = await http.SendAsync(ok, Ct);

        var logs = Host.Logs;
        Assert.Contains(logs, l => l.Contains("the API key is not a configured key", StringComparison.Ordinal));
        Assert.DoesNotContain(logs, l => l.Contains(wrong, StringComparison.Ordinal) || l.Contains(SecuredHostFixture.WriteKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Page_BrowserWithoutLogin_RedirectsToLogin()
    {
        using var http = Host.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/system?x=1");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/html"));
        using var response = await http.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/login?returnUrl=%2Fsystem%3Fx%3D1", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Login_WithAntiforgeryToken_SignsInAndOpensPagesAndApi()
    {
        using var http = Host.CreateClient();
        using var login = await LoginForm.SignInAsync(http, SecuredHostFixture.User, SecuredHostFixture.Password, "/system");
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        Assert.Equal("/system", login.Headers.Location?.OriginalString);
        var cookie = Assert.Single(login.Headers.GetValues("Set-Cookie"), c => c.StartsWith("detektor.auth=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);

        using var page = await http.GetAsync("/system", Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Sign out", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        using var api = await http.GetAsync("/api/v1/cameras", Ct);
        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
    }

    [Fact]
    public async Task Login_WrongPassword_BackToLoginWithoutCookie()
    {
        using var http = Host.CreateClient();
        using var login = await LoginForm.SignInAsync(http, SecuredHostFixture.User, "wrong", "https://evil.example/");
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        Assert.Equal("/login?error=1&returnUrl=%2F", login.Headers.Location?.OriginalString);
        Assert.False(login.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("detektor.auth=", StringComparison.Ordinal)));
        Assert.DoesNotContain(Host.Logs, l => l.Contains("wrong", StringComparison.Ordinal) && l.Contains("password", StringComparison.OrdinalIgnoreCase) && !l.Contains("wrong password", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Login_WithoutAntiforgeryToken_IsRejected()
    {
        using var http = Host.CreateClient();
        using var login = await http.PostAsync("/auth/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["user"] = SecuredHostFixture.User,
            ["password"] = SecuredHostFixture.Password,
        }), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, login.StatusCode);
        Assert.False(login.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("detektor.auth=", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Responses_CarrySecurityHeaders()
    {
        using var http = Host.CreateClient();
        foreach (var path in new[] { "/login", "/api/v1/cameras", "/health" })
        {
            using var response = await http.GetAsync(path, Ct);
            Assert.Equal(SecurityHeadersMiddleware.ContentSecurityPolicy, Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
            Assert.Contains("frame-ancestors 'none'", SecurityHeadersMiddleware.ContentSecurityPolicy, StringComparison.Ordinal);
            Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
            Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        }
    }
}
