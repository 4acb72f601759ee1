namespace Detektor.Core.Health;

/// <summary>
/// Tags that put a health check into a probe (see docs/operations.md):
/// <list type="bullet">
/// <item><see cref="Live"/>: failing means the process is broken and should be restarted (<c>/health</c> answers 503).</item>
/// <item><see cref="Ready"/>: failing means the process cannot do its work now (database, Redis, queues); <c>/ready</c> answers 503.</item>
/// <item><see cref="Startup"/>: must pass once before the process counts as started (<c>/startup</c>).</item>
/// </list>
/// Checks with none of these (cameras, for example) show in every response and make it <c>degraded</c>, but change no status code.
/// </summary>
public static class HealthTags
{
    public const string Live = "live";
    public const string Ready = "ready";
    public const string Startup = "startup";
}
