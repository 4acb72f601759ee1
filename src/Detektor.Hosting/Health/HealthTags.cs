namespace Detektor.Hosting.Health;

/// <summary>Adds entries to the <c>metadata</c> object of health responses (e.g. the store provider, features).</summary>
public interface IHealthMetadataContributor
{
    void Contribute(IDictionary<string, object?> metadata);
}

/// <summary>Flips once the host has started and every registered startup task is done.</summary>
public sealed class StartupGate
{
    private volatile bool _started;

    public bool IsStarted => _started;

    public void MarkStarted() => _started = true;
}

/// <summary>Lists what the service defaults give every service (the seed's base template), under <c>metadata.features</c>.</summary>
public sealed class ServiceDefaultsFeatures : IHealthMetadataContributor
{
    public static readonly IReadOnlyList<string> Features = ["tracing", "metrics", "health", "correlation", "problem_details"];

    public void Contribute(IDictionary<string, object?> metadata) => metadata["features"] = Features;
}
