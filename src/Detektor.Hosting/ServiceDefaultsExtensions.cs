using Detektor.Core.Configuration;
using System.Diagnostics;
using Detektor.Core;
using Detektor.Core.Health;
using Detektor.Core.Telemetry;
using Detektor.Hosting.Correlation;
using Detektor.Hosting.Health;
using Detektor.Core.Security;
using Detektor.Hosting.Logging;
using Detektor.Hosting.Telemetry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Detektor.Hosting;

/// <summary>
/// What every Detektor role gets (Aspire's ServiceDefaults pattern): <see cref="AddServiceDefaults"/> wires telemetry,
/// health, ProblemDetails, logging and limits; <see cref="MapDefaultEndpoints"/> adds the middleware and maps
/// <c>/health</c>, <c>/ready</c>, <c>/startup</c> and <c>/metrics</c>.
/// </summary>
public static class ServiceDefaultsExtensions
{
    private static readonly string[] ProbePaths = ["/health", "/ready", "/startup", "/metrics"];

    /// <summary>
    /// The service name comes from <c>OTEL_SERVICE_NAME</c> when set, else <paramref name="serviceName"/>. OTLP export of
    /// traces, metrics and logs turns on when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (other <c>OTEL_*</c> variables
    /// apply as the OpenTelemetry SDK defines them).
    /// </summary>
    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        var name = builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } fromEnv ? fromEnv : serviceName;
        var identity = new ServiceIdentity(name);
        builder.Services.TryAddSingleton(identity);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOptions<HostingOptions>().BindConfiguration(HostingOptions.SectionName).ValidateKeyed(HostingOptions.SectionName);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<HostingOptions>, HostingOptionsValidator>());
        var hosting = builder.Configuration.GetSection(HostingOptions.SectionName).Get<HostingOptions>() ?? new HostingOptions();

        // Logging: structured JSON lines on the console, the last error remembered for /health, OpenTelemetry logs.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.FormatterName = hosting.JsonLogs ? MaskingJsonConsoleFormatter.FormatterName : MaskingTextConsoleFormatter.FormatterName);
        builder.Logging.AddConsoleFormatter<MaskingJsonConsoleFormatter, ConsoleFormatterOptions>(o => o.IncludeScopes = true);
        builder.Logging.AddConsoleFormatter<MaskingTextConsoleFormatter, ConsoleFormatterOptions>();

        // Framework chatter (a line per request) stays out unless configured under Logging:LogLevel.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Warning);
        builder.Logging.AddFilter("System.Net.Http.HttpClient", LogLevel.Warning);
        builder.Services.TryAddSingleton<LastErrorTracker>();
        builder.Services.AddSingleton<ILoggerProvider, LastErrorLoggerProvider>();

        // Telemetry.
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(identity.Name, serviceVersion: identity.Version, serviceInstanceId: identity.InstanceId))
            .WithTracing(tracing =>
            {
                tracing.AddSource([.. TelemetryNames.All]);
                if (string.IsNullOrEmpty(builder.Configuration["OTEL_TRACES_SAMPLER"]))
                {
                    // Clamped here only so the sampler can be built; an out-of-range value is reported by validation at start.
                    tracing.SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(Math.Clamp(hosting.TraceSampleRatio, 0, 1))));
                }

                tracing.AddAspNetCoreInstrumentation(o =>
                {
                    o.Filter = context => !IsProbe(context.Request.Path);
                    o.RecordException = false; // recorded below, masked
                    o.EnrichWithException = static (activity, exception) => RecordMaskedException(activity, exception);
                });
                tracing.AddHttpClientInstrumentation();
                tracing.AddProcessor(new SecretMaskingActivityProcessor());
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter([.. TelemetryNames.All]);
                var cardinality = Math.Max(16, hosting.MetricCardinalityLimit); // out of range is reported by validation at start
                metrics.AddView(_ => new MetricStreamConfiguration { CardinalityLimit = cardinality });
                metrics.AddAspNetCoreInstrumentation();
                metrics.AddHttpClientInstrumentation();
                metrics.AddRuntimeInstrumentation();
                metrics.AddPrometheusExporter();
            })
            .WithLogging(logging => logging.AddProcessor(new SecretMaskingLogProcessor()));
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.UseOtlpExporter();
        }

        builder.Services.AddHostedService<TelemetryFlushService>();

        // Health.
        builder.Services.TryAddSingleton<StartupGate>();
        builder.Services.TryAddSingleton<ProcessUptime>();
        builder.Services.AddHostedService<StartupGateService>();
        builder.Services.AddSingleton<IHealthMetadataContributor, ServiceDefaultsFeatures>();
        builder.Services.AddHealthChecks().AddCheck("self", () => HealthCheckResult.Healthy("the process answers"), tags: [HealthTags.Live]);
        builder.Services.AddSupervision(builder.Configuration);

        // Errors as RFC 9457 ProblemDetails, with the correlation and trace ids.
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = context =>
        {
            context.ProblemDetails.Instance ??= context.HttpContext.Request.Path;
            if (CorrelationIdMiddleware.Get(context.HttpContext) is { } correlationId)
            {
                context.ProblemDetails.Extensions["correlation_id"] = correlationId;
            }

            if (Activity.Current is { } activity)
            {
                context.ProblemDetails.Extensions["trace_id"] = activity.TraceId.ToHexString();
            }
        });

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = hosting.MaxRequestBodyBytes;
            k.AddServerHeader = false;
        });
        return builder;
    }

    /// <summary>Adds correlation, error handling and the probe and metrics endpoints. Call first, before other endpoints.</summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.UseMiddleware<CorrelationIdMiddleware>();
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = ex => ex is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError,
        });
        app.UseStatusCodePages();
        app.MapHealthEndpoints();
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static void RecordMaskedException(Activity activity, Exception exception) =>
        activity.AddEvent(new ActivityEvent("exception", tags: new ActivityTagsCollection
        {
            ["exception.type"] = exception.GetType().FullName,
            ["exception.message"] = SecretMasker.MaskSecrets(exception.Message),
        }));

    private static bool IsProbe(PathString path)
    {
        foreach (var probe in ProbePaths)
        {
            if (path.StartsWithSegments(probe, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Opens the startup gate once every hosted service has started (migrations, workers).</summary>
    private sealed class StartupGateService(StartupGate gate, IHostApplicationLifetime lifetime, ProcessUptime uptime) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            _ = uptime.Elapsed; // the clock starts with the host, not with the first probe
            lifetime.ApplicationStarted.Register(gate.MarkStarted);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
