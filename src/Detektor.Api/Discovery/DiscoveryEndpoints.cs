using System.Text.Json;
using System.Text.Json.Serialization;
using Detektor.Bus.Registry;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Detektor.Api.Discovery;

/// <summary>
/// <c>GET /api/v1/discovery/instances</c> (every registered Detektor instance) and <c>GET /api/v1/discovery/prometheus</c>
/// (the same as Prometheus HTTP service discovery target groups: one per instance, <c>__meta_detektor_*</c> labels).
/// </summary>
public static class DiscoveryEndpoints
{
    private static readonly JsonSerializerOptions SdJson = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapDiscovery(this IEndpointRouteBuilder endpoints)
    {
        var discovery = endpoints.MapGroup("/api/v1/discovery").WithTags("Discovery");
        discovery.MapGet("/instances", async (IInstanceRegistry registry, CancellationToken ct) =>
                Results.Ok(new InstanceListResponse([.. (await registry.ListAsync(ct)).Select(InstanceResponse.From)])))
            .WithName("ListInstances")
            .WithSummary("Every registered Detektor instance: id, service, roles, URL, version, registration and last heartbeat.")
            .Produces<InstanceListResponse>();
        discovery.MapGet("/prometheus", async (IInstanceRegistry registry, CancellationToken ct) =>
                Results.Json(PrometheusTargets(await registry.ListAsync(ct)), SdJson))
            .WithName("PrometheusServiceDiscovery")
            .WithSummary("Prometheus HTTP service discovery (http_sd_configs): one target group per instance.")
            .Produces<IReadOnlyList<PrometheusTargetGroup>>();
        return endpoints;
    }

    /// <summary>One target group per instance: host:port of its URL, its scheme, and its id, service, roles and version as meta labels.</summary>
    public static IReadOnlyList<PrometheusTargetGroup> PrometheusTargets(IEnumerable<InstanceInfo> instances) =>
    [
        .. instances.Select(i =>
        {
            var uri = new Uri(i.Url);
            return new PrometheusTargetGroup(
                [uri.Authority],
                new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["__scheme__"] = uri.Scheme,
                    ["__metrics_path__"] = "/metrics",
                    ["__meta_detektor_instance_id"] = i.Id,
                    ["__meta_detektor_service"] = i.Service,
                    // Surrounded by commas so relabelling can match one role with a regex like .*,process,.*
                    ["__meta_detektor_roles"] = "," + string.Join(',', i.Roles) + ",",
                    ["__meta_detektor_version"] = i.Version,
                });
        }),
    ];
}

public sealed record PrometheusTargetGroup(
    [property: JsonPropertyName("targets")] IReadOnlyList<string> Targets,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels);

public sealed record InstanceListResponse([property: JsonPropertyName("instances")] IReadOnlyList<InstanceResponse> Instances);

public sealed record InstanceResponse(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("roles")] IReadOnlyList<string> Roles,
    [property: JsonPropertyName("url")] string Url,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("registered_at")] DateTimeOffset RegisteredAt,
    [property: JsonPropertyName("last_heartbeat")] DateTimeOffset LastHeartbeat)
{
    public static InstanceResponse From(InstanceInfo i) => new(i.Id, i.Service, i.Roles, i.Url, i.Version, i.RegisteredAt, i.LastHeartbeat);
}
