using Detektor.Api.Cameras;
using Detektor.Api.Echo;
using Detektor.Api.Events;
using Detektor.Api.Frames;
using Detektor.Api.Http;
using Detektor.Api.Inference;
using Detektor.Api.Stats;
using Detektor.Api.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Detektor.Api;

public static class ApiExtensions
{
    /// <summary>Registers the API's JSON conventions and the OpenAPI document.</summary>
    public static WebApplicationBuilder AddDetektorApi(this WebApplicationBuilder builder)
    {
        builder.Services.Configure<JsonOptions>(o => ApiJson.Configure(o.SerializerOptions));
        builder.Services.AddOpenApi("v1");
        return builder;
    }

    /// <summary>Maps <c>/api/v1/…</c> (frames, stats, cameras), <c>/echo</c> and <c>/openapi/v1.json</c>.</summary>
    public static WebApplication MapDetektorApi(this WebApplication app)
    {
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapFrames();
        app.MapStats();
        app.MapFrameLeases();
        app.MapBus();
        app.MapEvents();
        app.MapCameras();
        app.MapInference();
        app.MapEcho();
        return app;
    }
}
