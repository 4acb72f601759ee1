using System.Reflection;

namespace Detektor.Core;

/// <summary>Who this process is: its service name (e.g. <c>detektor</c>, <c>detektor-process</c>), version and instance id.</summary>
public sealed class ServiceIdentity
{
    public ServiceIdentity(string name, string? version = null, string? instanceId = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        Version = version ?? DefaultVersion;
        InstanceId = instanceId ?? $"{Environment.MachineName.ToLowerInvariant()}-{Environment.ProcessId}";
    }

    public string Name { get; }

    public string Version { get; }

    public string InstanceId { get; }

    public static string DefaultVersion { get; } =
        typeof(ServiceIdentity).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? "0.0.0";
}
