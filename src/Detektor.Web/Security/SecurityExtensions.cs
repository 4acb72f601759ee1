using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Detektor.Web.Security;

public static class SecurityExtensions
{
    /// <summary>Registers access control: options (validated at start), login cookies, data protection keys in the data dir.</summary>
    public static WebApplicationBuilder AddDetektorSecurity(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.SectionName).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<SecurityOptions>, SecurityOptionsValidator>();
        builder.Services.AddSingleton<AccessControl>();
        builder.Services.AddSingleton<LoginThrottle>();

        // Login cookies and antiforgery tokens stay valid across restarts: their keys live in the data dir.
        var dataDir = builder.Configuration["Detektor:DataDir"] ?? "data";
        builder.Services.AddDataProtection()
            .SetApplicationName("detektor")
            .PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(dataDir, "keys")));

        var session = builder.Configuration.GetValue<int?>($"{SecurityOptions.SectionName}:{nameof(SecurityOptions.SessionMinutes)}") ?? 480;
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.Cookie.Name = "detektor.auth";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                o.ExpireTimeSpan = TimeSpan.FromMinutes(Math.Clamp(session, 1, 43_200));
                o.SlidingExpiration = true;
                o.LoginPath = AccessControlMiddleware.LoginPath;
            });
        return builder;
    }

    /// <summary>Adds security headers, authentication and the access check, and maps the login endpoints. Call before mapping other endpoints.</summary>
    public static WebApplication UseDetektorSecurity(this WebApplication app)
    {
        app.UseMiddleware<SecurityHeadersMiddleware>();
        app.UseAuthentication();
        app.UseMiddleware<AccessControlMiddleware>();
        app.MapLogin();

        var access = app.Services.GetRequiredService<AccessControl>();
        var logger = app.Services.GetRequiredService<ILogger<AccessControl>>();
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var addresses = string.Join(", ", app.Urls);
            var state = access.IsRequired ? "credentials required" : "open";
            var mode = access.Options.Mode.ToString();
            var openPaths = string.Join(", ", access.Options.EffectiveOpenPaths);
            Log.AccessState(logger, state, mode, addresses, access.Options.ApiKeys.Count, access.Options.Users.Count, openPaths);
            if (access.IsRequired && access.Options.ApiKeys.Count + access.Options.Users.Count == 0)
            {
                Log.NoCredentials(logger);
            }

            if (access.Options.Mode == AuthMode.Open && !BindScope.IsLoopbackOnly(app.Urls))
            {
                Log.OpenBeyondLoopback(logger, addresses);
            }
        });
        return app;
    }
}
