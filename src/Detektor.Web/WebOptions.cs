using System.ComponentModel.DataAnnotations;

namespace Detektor.Web;

/// <summary>Options of the web UI (section <c>Detektor:Web</c>).</summary>
public sealed class WebOptions
{
    public const string SectionName = "Detektor:Web";

    /// <summary>
    /// Base URL of a Jaeger UI (e.g. <c>http://jaeger:16686</c>); when set, the frame journey page links each frame's trace
    /// to <c>{JaegerUrl}/trace/{trace id}</c>. Empty (default): no link.
    /// </summary>
    public string? JaegerUrl { get; set; }

    /// <summary>How often the Live page reloads camera images and states, in milliseconds. Default 1000.</summary>
    [Range(200, 60_000)]
    public int LiveRefreshMs { get; set; } = 1000;

    /// <summary>How often the System page polls health, bus and processors, in milliseconds. Default 3000.</summary>
    [Range(500, 300_000)]
    public int SystemRefreshMs { get; set; } = 3000;

    /// <summary>The Jaeger link of a trace, or null when no Jaeger URL is configured.</summary>
    public string? TraceLink(string? traceId) =>
        string.IsNullOrWhiteSpace(JaegerUrl) || string.IsNullOrEmpty(traceId) ? null : $"{JaegerUrl.TrimEnd('/')}/trace/{traceId}";

    /// <summary>True when <see cref="JaegerUrl"/> is empty or an absolute http(s) URL.</summary>
    public bool HasValidJaegerUrl =>
        string.IsNullOrWhiteSpace(JaegerUrl) ||
        (Uri.TryCreate(JaegerUrl, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps));
}
