using System.Reflection;
using Detektor.Core.Configuration;
using Detektor.Web.Components;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;

namespace Detektor.Web;

public static class WebExtensions
{
    /// <summary>Where the UI's CSS and JavaScript are served from.</summary>
    public const string AssetsPath = "/ui/assets";

    /// <summary>Registers the UI: Razor components (static server-side rendering) and <see cref="WebOptions"/>.</summary>
    public static WebApplicationBuilder AddDetektorWeb(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<WebOptions>()
            .BindConfiguration(WebOptions.SectionName)
            .ValidateKeyed(WebOptions.SectionName)
            .Validate(o => o.HasValidJaegerUrl, $"{WebOptions.SectionName}:JaegerUrl: is not an absolute http(s) URL; allowed: empty, or e.g. http://jaeger:16686.")
            .ValidateOnStart();
        builder.Services.AddRazorComponents();
        builder.Services.AddAntiforgery();
        return builder;
    }

    /// <summary>Maps the UI pages (<c>/</c>, <c>/frames</c>, <c>/system</c>, <c>/events</c>) and <c>/ui/assets/*</c>.</summary>
    public static WebApplication MapDetektorWeb(this WebApplication app)
    {
        var contentTypes = new FileExtensionContentTypeProvider();
        app.UseStaticFiles(new StaticFileOptions
        {
            RequestPath = AssetsPath,
            FileProvider = new EmbeddedFileProvider(Assembly.GetExecutingAssembly(), "Detektor.Web.assets"),
            ContentTypeProvider = contentTypes,
            OnPrepareResponse = c => c.Context.Response.Headers.CacheControl = "no-cache",
        });
        app.UseAntiforgery();
        app.MapRazorComponents<App>();
        return app;
    }
}
