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
